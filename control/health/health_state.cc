/* SPDX-License-Identifier: Apache-2.0 */
#include "health_state.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>

namespace nlb::health {

const char *status_name(status s) {
    switch (s) {
        case status::initial:
            return "INITIAL";
        case status::healthy:
            return "HEALTHY";
        case status::unhealthy:
            return "UNHEALTHY";
    }
    return "?";
}

bool apply_result(target_state &st, bool ok, const std::string &reason, unsigned healthy_threshold,
                  unsigned unhealthy_threshold) {
    healthy_threshold = std::max(healthy_threshold, 1u);
    unhealthy_threshold = std::max(unhealthy_threshold, 1u);
    const status before = st.st;
    ++st.probes;
    if (ok) {
        ++st.consecutive_ok;
        st.consecutive_fail = 0;
        if (st.st == status::initial ||
            (st.st == status::unhealthy && st.consecutive_ok >= healthy_threshold))
            st.st = status::healthy;
    } else {
        ++st.failures;
        ++st.consecutive_fail;
        st.consecutive_ok = 0;
        st.last_failure = reason;
        if (st.st != status::unhealthy && st.consecutive_fail >= unhealthy_threshold)
            st.st = status::unhealthy;
    }
    return st.st != before;
}

status_line_result parse_status_line(std::string_view got, unsigned *code) {
    // "HTTP/1.x NNN" and one more byte (space, CR or LF) decide it.
    static constexpr std::string_view prefix = "HTTP/1.";
    const size_t n = std::min(got.size(), prefix.size());
    if (got.substr(0, n) != prefix.substr(0, n)) return status_line_result::bad;
    if (got.size() <= prefix.size()) return status_line_result::need_more;
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    if (!is_digit(got[7])) return status_line_result::bad;
    if (got.size() <= 8) return status_line_result::need_more;
    if (got[8] != ' ') return status_line_result::bad;
    unsigned value = 0;
    for (size_t i = 9; i < 12; ++i) {
        if (got.size() <= i) return status_line_result::need_more;
        if (!is_digit(got[i])) return status_line_result::bad;
        value = value * 10 + static_cast<unsigned>(got[i] - '0');
    }
    if (got.size() <= 12) return status_line_result::need_more;
    if (got[12] != ' ' && got[12] != '\r' && got[12] != '\n') return status_line_result::bad;
    if (value < 100) return status_line_result::bad;
    *code = value;
    return status_line_result::ok;
}

bool status_is_normal(unsigned code, uint8_t normal_classes) {
    if (code >= 200 && code <= 299) return (normal_classes & class_2xx) != 0;
    if (code >= 300 && code <= 399) return (normal_classes & class_3xx) != 0;
    if (code >= 400 && code <= 499) return (normal_classes & class_4xx) != 0;
    return false;
}

std::string address_text(const ip_addr &addr, ip_family family) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == ip_family::v4 ? AF_INET : AF_INET6, addr.bytes, buf, sizeof(buf));
    return buf;
}

std::string build_http_request(const check_settings &settings, const ip_addr &addr,
                               ip_family family, uint16_t port) {
    std::string host = settings.host;
    if (host.empty()) {
        const std::string ip = address_text(addr, family);
        host = (family == ip_family::v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
    }
    // The API layer admits only printable ASCII; still, never let a byte end the line early.
    auto unsafe = [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f;
    };
    std::string req;
    req.reserve(96 + settings.path.size() + host.size());
    req += "GET ";
    if (settings.path.empty()) req += '/';
    for (char c : settings.path) {
        if (!unsafe(c)) {
            req += c;
            continue;
        }
        static constexpr char hex[] = "0123456789ABCDEF";
        req += '%';
        req += hex[static_cast<unsigned char>(c) >> 4];
        req += hex[static_cast<unsigned char>(c) & 15];
    }
    req += " HTTP/1.1\r\nHost: ";
    for (char c : host)
        if (!unsafe(c)) req += c;
    req += "\r\nConnection: close\r\nUser-Agent: nlb-health/1\r\nAccept: */*\r\n\r\n";
    return req;
}

}  // namespace nlb::health
