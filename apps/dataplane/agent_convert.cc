/* SPDX-License-Identifier: Apache-2.0 */
/* Checks and conversions between nlb.dataplane.v1 messages and the datapath's types. */
#include <arpa/inet.h>

#include <set>

#include "agent_state.h"

namespace nlb::dataplane {

namespace {

bool parse_address(const std::string &text, const std::string &field, ip_addr *addr,
                   ip_family *family, std::string *error) {
    if (text.empty()) {
        *error = field + ": missing";
        return false;
    }
    if (!parse_ip(text, addr, family)) {
        *error = field + ": '" + text + "' is not an IPv4 or IPv6 address";
        return false;
    }
    return true;
}

bool check_range(uint64_t v, uint64_t lo, uint64_t hi, const std::string &field,
                 std::string *error) {
    if (v < lo || v > hi) {
        *error = field + ": " + std::to_string(v) + " is out of range " + std::to_string(lo) +
                 ".." + std::to_string(hi);
        return false;
    }
    return true;
}

}  // namespace

bool key_from_proto(const v1::ServiceKey &in, const std::string &field, service_key *out,
                    std::string *error) {
    service_key k{};
    if (!parse_address(in.vip(), field + ".vip", &k.vip, &k.family, error)) return false;
    if (!check_range(in.port(), 1, 65535, field + ".port", error)) return false;
    switch (in.protocol()) {
        case v1::TCP:
            k.proto = ipproto_tcp;
            break;
        case v1::UDP:
            k.proto = ipproto_udp;
            break;
        default:
            *error = field + ".protocol: must be TCP or UDP";
            return false;
    }
    k.port_be = htons(static_cast<uint16_t>(in.port()));
    *out = k;
    return true;
}

void key_to_proto(const service_key &k, v1::ServiceKey *out) {
    out->set_vip(format_ip(k.vip, k.family));
    out->set_port(ntohs(k.port_be));
    out->set_protocol(k.proto == ipproto_udp ? v1::UDP : v1::TCP);
}

std::string describe_key(const service_key &k) {
    std::string ip = format_ip(k.vip, k.family);
    if (k.family == ip_family::v6) ip = "[" + ip + "]";
    return ip + ":" + std::to_string(ntohs(k.port_be)) + (k.proto == ipproto_udp ? "/udp" : "/tcp");
}

bool service_from_proto(const v1::Service &in, const snapshot_limits &limits, service_spec *out,
                        std::string *error) {
    service_spec s{};
    if (!in.has_key()) {
        *error = "service.key: missing";
        return false;
    }
    if (!key_from_proto(in.key(), "service.key", &s.key, error)) return false;
    switch (in.mode()) {
        case v1::NAT:
            s.mode = fwd_mode::nat;
            break;
        case v1::DSR:
            s.mode = fwd_mode::dsr;
            break;
        case v1::TUNNEL:
            s.mode = fwd_mode::tunnel;
            break;
        default:
            *error = "service.mode: must be NAT, DSR or TUNNEL";
            return false;
    }
    switch (in.scheduler()) {
        case v1::WRR:
            s.sched = sched_kind::wrr;
            break;
        case v1::WLC:
            s.sched = sched_kind::wlc;
            break;
        case v1::SOURCE_IP:
            s.sched = sched_kind::source_ip;
            break;
        default:
            *error = "service.scheduler: must be WRR, WLC or SOURCE_IP";
            return false;
    }
    if (!check_range(in.persistence_timeout_s(), 0, 3600, "service.persistence_timeout_s", error))
        return false;
    s.persistence_timeout_s = in.persistence_timeout_s();
    if (static_cast<uint64_t>(in.backends_size()) > limits.max_backends) {
        *error = "service.backends: " + std::to_string(in.backends_size()) + " backends, at most " +
                 std::to_string(limits.max_backends);
        return false;
    }
    std::set<uint64_t> ids;
    for (int i = 0; i < in.backends_size(); i++) {
        const v1::Backend &b = in.backends(i);
        const std::string field = "service.backends[" + std::to_string(i) + "]";
        backend_spec bs{};
        bs.id = b.id();
        if (!ids.insert(b.id()).second) {
            *error = field + ".id: duplicate backend id " + std::to_string(b.id());
            return false;
        }
        if (!parse_address(b.address(), field + ".address", &bs.addr, &bs.family, error))
            return false;
        if (s.mode != fwd_mode::tunnel && bs.family != s.key.family) {
            *error = field + ".address: " + b.address() + " is not in the VIP's address family (" +
                     fwd_mode_name(s.mode) + " mode)";
            return false;
        }
        if (!check_range(b.port(), 1, 65535, field + ".port", error)) return false;
        if (s.mode != fwd_mode::nat && b.port() != in.key().port()) {
            *error = field + ".port: " + std::to_string(b.port()) + " must equal the VIP port " +
                     std::to_string(in.key().port()) + " in " + fwd_mode_name(s.mode) + " mode";
            return false;
        }
        bs.port_be = htons(static_cast<uint16_t>(b.port()));
        if (!check_range(b.weight(), 0, 100, field + ".weight", error)) return false;
        bs.weight = static_cast<uint8_t>(b.weight());
        switch (b.state()) {
            case v1::ACTIVE:
                bs.state = backend_state::active;
                break;
            case v1::DRAINING:
                bs.state = backend_state::draining;
                break;
            default:
                *error = field + ".state: must be ACTIVE or DRAINING";
                return false;
        }
        s.backends.push_back(bs);
    }
    // Whatever else the builder checks (same address and port twice, ...), with its wording.
    std::string more = validate_service(s, limits);
    if (!more.empty()) {
        *error = more;
        return false;
    }
    *out = std::move(s);
    return true;
}

v1::ConnectionState state_to_proto(tcp_state s) {
    switch (s) {
        case tcp_state::syn_recv:
            return v1::SYN_RECV;
        case tcp_state::established:
            return v1::ESTABLISHED;
        case tcp_state::fin_wait:
            return v1::FIN_WAIT;
        case tcp_state::time_wait:
            return v1::TIME_WAIT;
        case tcp_state::close:
            return v1::CLOSE;
        case tcp_state::udp:
            return v1::UDP_FLOW;
        default:
            return v1::CONNECTION_STATE_UNSPECIFIED;
    }
}

}  // namespace nlb::dataplane
