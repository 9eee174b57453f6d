/* SPDX-License-Identifier: Apache-2.0 */
/*
 * listener_farm: many listening TCP sockets served by one epoll thread, the
 * backends of the health prober benchmarks. Every connection is accepted; in
 * TCP mode it is closed at once, in HTTP mode the request is read, answered
 * "200 OK" and then the connection is closed. Used in-process (loopback) by the
 * Google Benchmark and in a network namespace by prober-scale.sh.
 */
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace nlb::bench {

/** Raises RLIMIT_NOFILE's soft limit to at least `want` (up to the hard limit). */
inline void raise_fd_limit(rlim_t want) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur >= want) return;
    rl.rlim_cur = std::min(want, rl.rlim_max);
    setrlimit(RLIMIT_NOFILE, &rl);
}

class listener_farm {
  public:
    /**
     * Opens `count` listeners on addr (IPv4), ports first_port.. (first_port 0:
     * `count` ephemeral ports). ok() tells whether all opened.
     */
    listener_farm(const std::string &addr, uint16_t first_port, unsigned count, bool http)
        : http_(http) {
        raise_fd_limit(2 * count + 1024);
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        if (inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1) return;
        for (unsigned i = 0; i < count; ++i) {
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) return;
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            sa.sin_port = htons(first_port ? static_cast<uint16_t>(first_port + i) : 0);
            if (::bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) != 0 ||
                ::listen(fd, 1024) != 0) {
                ::close(fd);
                return;
            }
            sockaddr_in got{};
            socklen_t l = sizeof(got);
            getsockname(fd, reinterpret_cast<sockaddr *>(&got), &l);
            ports_.push_back(ntohs(got.sin_port));
            listeners_.push_back(fd);
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = listener_bit | static_cast<uint32_t>(fd);
            epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
        }
        ok_ = true;
        thread_ = std::thread([this] { run(); });
    }
    ~listener_farm() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        for (int fd : listeners_) ::close(fd);
        if (ep_ >= 0) ::close(ep_);
    }
    bool ok() const { return ok_; }
    const std::vector<uint16_t> &ports() const { return ports_; }
    uint64_t accepted() const { return accepted_.load(std::memory_order_relaxed); }

  private:
    static constexpr uint64_t listener_bit = 1ull << 32;

    void run() {
        epoll_event evs[256];
        static const char ok_response[] =
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        while (!stop_.load(std::memory_order_relaxed)) {
            int n = epoll_wait(ep_, evs, 256, 100);
            for (int i = 0; i < n; ++i) {
                const int fd = static_cast<int>(evs[i].data.u64 & 0xffffffffu);
                if (evs[i].data.u64 & listener_bit) {
                    for (;;) {
                        int c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                        if (c < 0) break;
                        accepted_.fetch_add(1, std::memory_order_relaxed);
                        if (!http_) {
                            ::close(c);
                            continue;
                        }
                        epoll_event ev{};
                        ev.events = EPOLLIN;
                        ev.data.u64 = static_cast<uint32_t>(c);
                        epoll_ctl(ep_, EPOLL_CTL_ADD, c, &ev);
                    }
                    continue;
                }
                // An HTTP connection: one read holds the whole probe request.
                char buf[1024];
                ssize_t got = ::recv(fd, buf, sizeof(buf), 0);
                if (got > 0) ::send(fd, ok_response, sizeof(ok_response) - 1, MSG_NOSIGNAL);
                ::close(fd);
            }
        }
    }

    bool http_;
    bool ok_ = false;
    int ep_ = -1;
    std::vector<int> listeners_;
    std::vector<uint16_t> ports_;
    std::atomic<uint64_t> accepted_{0};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace nlb::bench
