/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Real servers for the prober tests, on 127.0.0.1 port 0 (or a given
 * address), each with its own poll() thread:
 *  - http_server answers every request in the current mode (a status code,
 *    a response split over several writes, garbage, a slow answer, no answer,
 *    a close without answer, a reset at accept, or alternately 200 and 503
 *    ("flap": the 1st, 3rd, ... request passes) and records each request,
 *    peer address and accept time;
 *  - silent_listener listens and never accepts (an HTTP probe to it hangs).
 */
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nlb::health::test {

/** A listening TCP socket on addr:port (port 0 = any); -1 on failure. */
inline int listen_on(const char *addr, uint16_t port, int backlog = 128) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, addr, &sa.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) != 0 ||
        ::listen(fd, backlog) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

inline uint16_t port_of(int fd) {
    sockaddr_in sa{};
    socklen_t l = sizeof(sa);
    getsockname(fd, reinterpret_cast<sockaddr *>(&sa), &l);
    return ntohs(sa.sin_port);
}

/** A listening TCP socket on [::1]:0; -1 when IPv6 loopback is unavailable. */
inline int listen_on_v6_loopback() {
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) != 0 ||
        ::listen(fd, 128) != 0) {
        if (fd >= 0) ::close(fd);
        return -1;
    }
    return fd;
}

inline uint16_t port_of_v6(int fd) {
    sockaddr_in6 sa{};
    socklen_t l = sizeof(sa);
    getsockname(fd, reinterpret_cast<sockaddr *>(&sa), &l);
    return ntohs(sa.sin6_port);
}

/** A port on 127.0.0.1 nobody listens on (bound, then released). */
inline uint16_t closed_port() {
    int fd = listen_on("127.0.0.1", 0);
    uint16_t p = port_of(fd);
    ::close(fd);
    return p;
}

// reset: RST after the request; reset_at_accept: RST at once (SO_LINGER 0, nothing read);
// flap: 200 to the 1st, 3rd, ... request and 503 to the others.
enum class http_mode { status, split, garbage, slow, hang, close, reset, reset_at_accept, flap };

class http_server {
  public:
    explicit http_server(int code = 200, const char *addr = "127.0.0.1") : code_(code) {
        fd_ = listen_on(addr, 0);
        port_ = port_of(fd_);
        thread_ = std::thread([this] { run(); });
    }
    ~http_server() {
        stop_ = true;
        thread_.join();
        for (auto &c : conns_) ::close(c.fd);
        ::close(fd_);
    }
    uint16_t port() const { return port_; }
    void set(http_mode m, int code = 200) {
        std::lock_guard lk(mu_);
        mode_ = m;
        code_ = code;
    }
    void set_delay(std::chrono::milliseconds d) { delay_ = d; }
    std::vector<std::string> requests() const {
        std::lock_guard lk(mu_);
        return requests_;
    }
    std::vector<std::string> peers() const {
        std::lock_guard lk(mu_);
        return peers_;
    }
    size_t request_count() const {
        std::lock_guard lk(mu_);
        return requests_.size();
    }
    /** When each connection was accepted (the server polls every 5 ms at most). */
    std::vector<std::chrono::steady_clock::time_point> accept_times() const {
        std::lock_guard lk(mu_);
        return accepts_;
    }

  private:
    struct conn {
        int fd;
        std::string in;
        bool answered = false;
        std::chrono::steady_clock::time_point answer_at{};
        bool pending = false;
    };

    void respond(conn &c) {
        http_mode m;
        int code;
        {
            std::lock_guard lk(mu_);
            m = mode_;
            code = code_;
        }
        if (m == http_mode::flap) code = (flaps_++ % 2 == 0) ? 200 : 503;
        const std::string resp = "HTTP/1.1 " + std::to_string(code) +
                                 " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        switch (m) {
            case http_mode::status:
            case http_mode::slow:
            case http_mode::flap:
                send_all(c.fd, resp);
                break;
            case http_mode::split:
                for (size_t i = 0; i < resp.size(); i += 5) {
                    send_all(c.fd, resp.substr(i, 5));
                    std::this_thread::sleep_for(std::chrono::milliseconds(3));
                }
                break;
            case http_mode::garbage:
                send_all(c.fd, "SSH-2.0-OpenSSH_9.2\r\n");
                break;
            case http_mode::close:
                break;
            case http_mode::reset:
            case http_mode::reset_at_accept: {
                linger lg{1, 0};  // close with a RST
                setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
                ::close(c.fd);
                c.fd = -1;
                return;
            }
            case http_mode::hang:
                c.answered = true;
                return;  // keep it open, say nothing
        }
        ::shutdown(c.fd, SHUT_WR);
        c.answered = true;
    }

    static void send_all(int fd, const std::string &s) {
        size_t off = 0;
        while (off < s.size()) {
            ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return;
            off += static_cast<size_t>(n);
        }
    }

    void run() {
        while (!stop_) {
            std::vector<pollfd> pfds{{fd_, POLLIN, 0}};
            for (auto &c : conns_) pfds.push_back({c.fd, POLLIN, 0});
            ::poll(pfds.data(), pfds.size(), 5);
            const auto now = std::chrono::steady_clock::now();
            if (pfds[0].revents & POLLIN) {
                sockaddr_in peer{};
                socklen_t l = sizeof(peer);
                int c = ::accept(fd_, reinterpret_cast<sockaddr *>(&peer), &l);
                if (c >= 0) {
                    char buf[INET_ADDRSTRLEN] = {};
                    inet_ntop(AF_INET, &peer.sin_addr, buf, sizeof(buf));
                    std::lock_guard lk(mu_);
                    peers_.push_back(buf);
                    accepts_.push_back(now);
                    if (mode_ == http_mode::reset_at_accept) {
                        linger lg{1, 0};  // close with a RST before reading anything
                        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
                        ::close(c);
                    } else {
                        conns_.push_back({c, {}});
                    }
                }
            }
            for (size_t i = 1; i < pfds.size(); ++i) {
                conn &c = conns_[i - 1];
                if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                char buf[1024];
                ssize_t n = ::recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n <= 0) {
                    ::close(c.fd);
                    c.fd = -1;
                    continue;
                }
                if (c.answered || c.pending) continue;
                c.in.append(buf, static_cast<size_t>(n));
                if (c.in.find("\r\n\r\n") == std::string::npos) continue;
                {
                    std::lock_guard lk(mu_);
                    requests_.push_back(c.in);
                }
                c.pending = true;
                c.answer_at = now;
                std::lock_guard lk(mu_);
                if (mode_ == http_mode::slow) c.answer_at = now + delay_.load();
            }
            for (auto &c : conns_)
                if (c.fd >= 0 && c.pending && !c.answered && now >= c.answer_at) respond(c);
            // Closed connections leave; answered ones wait for the prober's close.
            std::erase_if(conns_, [](const conn &c) { return c.fd < 0; });
        }
    }

    int fd_ = -1;
    uint16_t port_ = 0;
    mutable std::mutex mu_;
    http_mode mode_ = http_mode::status;
    int code_;
    std::atomic<std::chrono::milliseconds> delay_{std::chrono::milliseconds(0)};
    std::vector<std::string> requests_;
    std::vector<std::string> peers_;
    std::vector<std::chrono::steady_clock::time_point> accepts_;
    unsigned flaps_ = 0;       // flap mode: responses so far (server thread only)
    std::vector<conn> conns_;  // only the server thread touches it
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace nlb::health::test
