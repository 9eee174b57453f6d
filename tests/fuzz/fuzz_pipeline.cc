/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-pipeline: any bytes as an Ethernet frame through the whole datapath
 * (parse -> connection lookup / creation -> rewrite) of lib/pipeline/testbed.h,
 * built once with NAT, DSR and tunnel services in IPv4 and IPv6 (TCP and UDP,
 * WRR, WLC and SOURCE_IP, one with session persistence).
 *
 * Per input:
 *   - the bytes as one frame (one burst of one packet), then the same frame
 *     twice in one burst (creation and lookup of one flow in the same burst);
 *   - when the input holds the separator "NLB|", its pieces as one burst of
 *     several frames (the seeds use it to open a flow and send on it).
 * After each burst every verdict and mbuf is checked: the verdict is one of
 * the four actions, drops name a reason, tx/resolve name an existing port,
 * the mbuf is one segment inside its buffer; and when the input was a valid
 * TCP/UDP packet (parses, checksums verify) every transmitted frame parses
 * again with valid checksums (the inner packet for tunnel mode). A failed
 * check aborts, which libFuzzer reports as a crash with the input.
 * Every 4096 inputs the clock advances, expiry runs (so the table never
 * fills) and the environment moves to its next phase, so the state the
 * connections were made in changes under them:
 *   0  every service and neighbour as built
 *   1  backend be3 removed from every service (flows to it are reset)
 *   2  be1 draining everywhere (no new connections to it)
 *   3  all backends again, but the clients' neighbours forgotten (resolve)
 */
#include <rte_eal.h>
#include <rte_mbuf.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "net/checksum.h"
#include "net/parse.h"
#include "net/wire.h"
#include "pipeline/testbed.h"

namespace {

using namespace nlb;

struct fuzz_env {
    std::unique_ptr<testbed> tb;
    std::unique_ptr<worker> w;
    rte_mempool *pool = nullptr;
    uint32_t now_ms = 1000;
    uint64_t inputs = 0;
    unsigned phase = 0;
    uint64_t actions[4] = {};  // verdicts seen per action
    uint64_t checked_tx = 0;   // transmitted frames of valid inputs whose checksums were verified
};
fuzz_env *env = nullptr;

[[noreturn]] void fail(const char *what, unsigned i, const verdict &v) {
    std::fprintf(stderr,
                 "fuzz-pipeline: invariant broken: %s (packet %u, action %u, reason %u, port %u)\n",
                 what, i, static_cast<unsigned>(v.act), static_cast<unsigned>(v.reason), v.port);
    std::abort();
}

/** True when the IPv4 header checksum (v4) and the TCP/UDP checksum of the frame verify. */
bool checksums_ok(const uint8_t *frame, uint32_t len) {
    packet_meta m;
    if (parse_packet(frame, len, &m) != drop_reason::none) return false;
    if (m.l4_proto != ipproto_tcp && m.l4_proto != ipproto_udp) return false;
    const uint8_t *ip = frame + m.l3_offset;
    const uint8_t *l4 = frame + m.l4_offset;
    // For IPv6 the pseudo-header uses the final destination; without a routing
    // header (which the seeds do not carry) that is the fixed header's.
    uint64_t sum = m.kind == l3_kind::ipv4 ? csum::pseudo_v4(ip + 12, ip + 16, m.l4_proto, m.l4_len)
                                           : csum::pseudo_v6(ip + 8, ip + 24, m.l4_proto, m.l4_len);
    sum = csum::add_bytes(sum, l4, m.l4_len);
    return csum::fold(sum) == 0xFFFF;
}

/** A valid TCP or UDP packet: parses, and its checksums verify. */
bool valid_l4_packet(const uint8_t *data, uint32_t len) {
    packet_meta m;
    if (parse_packet(data, len, &m) != drop_reason::none) return false;
    if (m.kind != l3_kind::ipv4 && m.kind != l3_kind::ipv6) return false;
    if (m.l4_proto != ipproto_tcp && m.l4_proto != ipproto_udp) return false;
    return checksums_ok(data, len);
}

/**
 * A transmitted frame of a valid input: either a TCP/UDP packet whose
 * checksums verify, or an IP-in-IP / IPv6-in-IPv6 (tunnel mode) packet whose
 * outer header is sound and whose inner packet verifies.
 */
bool tx_frame_ok(const uint8_t *d, uint32_t len) {
    if (len < 14) return false;
    uint32_t l2 = 14;
    uint16_t et = wire::load_be16(d + 12);
    if (et == 0x8100) {
        if (len < 18) return false;
        l2 = 18;
        et = wire::load_be16(d + 16);
    }
    const uint8_t *ip = d + l2;
    const uint32_t rem = len - l2;
    uint32_t inner = 0;
    if (et == wire::ethertype_ipv4 && rem >= 20 && ip[9] == 4) {
        const uint32_t ihl = (ip[0] & 0x0f) * 4u;
        if (ihl < 20 || rem < ihl || wire::load_be16(ip + 2) > rem) return false;
        uint64_t s = csum::add_bytes(0, ip, ihl);
        if (csum::fold(s) != 0xFFFF) return false;
        inner = l2 + ihl;
    } else if (et == wire::ethertype_ipv6 && rem >= 40 && ip[6] == 41) {
        if (wire::load_be16(ip + 4) + 40u > rem) return false;
        inner = l2 + 40;
    }
    if (inner == 0) return checksums_ok(d, len);
    // Rebuild a frame around the inner packet and check that.
    if (inner >= len) return false;
    std::vector<uint8_t> f(14 + (len - inner));
    std::memcpy(f.data(), d, 12);
    const uint8_t ver = d[inner] >> 4;
    wire::store_be16(f.data() + 12, ver == 4 ? wire::ethertype_ipv4 : wire::ethertype_ipv6);
    std::memcpy(f.data() + 14, d + inner, len - inner);
    return checksums_ok(f.data(), static_cast<uint32_t>(f.size()));
}

rte_mbuf *to_mbuf(const uint8_t *data, size_t len) {
    rte_mbuf *m = rte_pktmbuf_alloc(env->pool);
    if (!m) {
        std::fprintf(stderr, "fuzz-pipeline: mempool empty (mbuf leak)\n");
        std::abort();
    }
    if (len > 0) {
        char *p = rte_pktmbuf_append(m, static_cast<uint16_t>(len));
        if (!p) {
            std::fprintf(stderr, "fuzz-pipeline: frame of %zu bytes does not fit\n", len);
            std::abort();
        }
        std::memcpy(p, data, len);
    }
    return m;
}

/** Runs one burst of frames through the worker, checks every verdict and output, frees. */
void run_burst(const std::vector<std::pair<const uint8_t *, size_t>> &frames) {
    rte_mbuf *pkts[max_burst];
    bool valid[max_burst];
    verdict out[max_burst];
    const uint16_t n = static_cast<uint16_t>(frames.size());
    for (uint16_t i = 0; i < n; i++) {
        pkts[i] = to_mbuf(frames[i].first, frames[i].second);
        valid[i] = valid_l4_packet(frames[i].first, static_cast<uint32_t>(frames[i].second));
        std::memset(&out[i], 0xA5, sizeof(out[i]));
    }
    env->w->process_burst(pkts, n, out, env->now_ms);
    const uint16_t n_ports = env->tb->dp.n_ports;
    for (uint16_t i = 0; i < n; i++) {
        const verdict &v = out[i];
        rte_mbuf *m = pkts[i];
        switch (v.act) {
            case action::drop:
                if (v.reason == drop_reason::none ||
                    static_cast<unsigned>(v.reason) >= drop_reason_count)
                    fail("drop without a valid reason", i, v);
                break;
            case action::tx:
            case action::resolve:
                if (v.port >= n_ports) fail("tx/resolve on a port that does not exist", i, v);
                [[fallthrough]];
            case action::slow_path:
                if (v.reason != drop_reason::none)
                    fail("reason set on a verdict that is not drop", i, v);
                break;
            default:
                fail("unknown action", i, v);
        }
        if (m->nb_segs != 1 || m->next != nullptr) fail("mbuf grew segments", i, v);
        if (uint32_t{m->data_off} + m->data_len > m->buf_len)
            fail("mbuf data past its buffer", i, v);
        if (m->pkt_len != m->data_len) fail("pkt_len differs from data_len", i, v);
        env->actions[static_cast<unsigned>(v.act)]++;
        if (v.act == action::tx && valid[i]) {
            const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
            if (!tx_frame_ok(d, m->data_len)) fail("transmitted frame does not verify", i, v);
            env->checked_tx++;
        }
        rte_pktmbuf_free(m);
    }
    env->tb->snapshots->quiescent(0);
}

void add_neighbour(const char *ip, ip_family f, uint16_t port) {
    neighbour_info n{};
    n.ip = testbed::addr(ip);
    n.family = f;
    n.state = neighbour_state::reachable;
    n.port = port;
    n.mac = rte_ether_addr{{0x02, 0, 0, 0, 0x0c, 0x02}};
    if (!env->tb->neighbours->update(n)) std::abort();
}

/** The services of a phase (see the file comment). */
std::vector<service_spec> services_of(unsigned phase) {
    std::vector<service_spec> services;
    for (ip_family f : {ip_family::v4, ip_family::v6}) {
        services.push_back(testbed::lab_service(f, fwd_mode::nat, sched_kind::wrr, 80));
        services.push_back(
            testbed::lab_service(f, fwd_mode::nat, sched_kind::wlc, 53, 3, 10, ipproto_udp));
        auto persistent = testbed::lab_service(f, fwd_mode::nat, sched_kind::wrr, 443, 3, 10);
        persistent.persistence_timeout_s = 60;
        services.push_back(persistent);
        services.push_back(testbed::lab_service(f, fwd_mode::dsr, sched_kind::source_ip, 81));
        services.push_back(testbed::lab_service(f, fwd_mode::tunnel, sched_kind::wrr, 82));
        services.push_back(
            testbed::lab_service(f, fwd_mode::tunnel, sched_kind::wlc, 82, 3, 10, ipproto_udp));
    }
    for (service_spec &s : services) {
        if (phase == 1) s.backends.pop_back();
        if (phase == 2) s.backends.front().state = backend_state::draining;
    }
    return services;
}

/** Publishes from the fuzzing thread, which is also worker 0 (offline while it waits). */
void publish(unsigned phase) {
    env->tb->snapshots->offline(0);
    env->tb->publish(services_of(phase));
    env->tb->snapshots->online(0);
}

void next_phase() {
    env->phase = (env->phase + 1) % 4;
    publish(env->phase == 3 ? 0 : env->phase);
    if (env->phase == 3) {
        env->tb->neighbours->forget(testbed::addr("198.18.0.2"));
        env->tb->neighbours->forget(testbed::addr("2001:2:0:18::2"));
    } else if (env->phase == 0) {
        add_neighbour("198.18.0.2", ip_family::v4, 0);
        add_neighbour("2001:2:0:18::2", ip_family::v6, 0);
    }
}

/** At exit: how the verdicts were spread (shows the inputs reach every stage). */
void print_stats() {
    std::fprintf(stderr,
                 "fuzz-pipeline: %llu inputs; verdicts drop %llu, tx %llu (%llu verified), "
                 "slow_path %llu, resolve %llu\n",
                 static_cast<unsigned long long>(env->inputs),
                 static_cast<unsigned long long>(env->actions[0]),
                 static_cast<unsigned long long>(env->actions[1]),
                 static_cast<unsigned long long>(env->checked_tx),
                 static_cast<unsigned long long>(env->actions[2]),
                 static_cast<unsigned long long>(env->actions[3]));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    std::vector<std::string> args = {"fuzz-pipeline",
                                     "--no-huge",
                                     "--no-shconf",
                                     "--no-pci",
                                     "-m",
                                     "256",
                                     "--no-telemetry",
                                     "--log-level=lib.*:error",
                                     "-l",
                                     "0"};
    std::vector<char *> argv;
    for (auto &a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        std::fprintf(stderr, "fuzz-pipeline: cannot initialise EAL\n");
        std::exit(1);
    }
    env = new fuzz_env;
    env->pool =
        rte_pktmbuf_pool_create("fuzz_pool", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (!env->pool) {
        std::fprintf(stderr, "fuzz-pipeline: cannot create the mempool\n");
        std::exit(1);
    }
    testbed_config cfg;
    cfg.conn_capacity = 1u << 14;
    cfg.persist_capacity = 1u << 12;
    cfg.limits.max_services = 64;
    cfg.limits.max_backends = 1024;
    env->tb = std::make_unique<testbed>(cfg);
    add_neighbour("198.18.0.2", ip_family::v4, 0);
    add_neighbour("2001:2:0:18::2", ip_family::v6, 0);
    env->tb->publish(services_of(0));
    env->w = std::make_unique<worker>(0, env->tb->dp);
    env->tb->snapshots->online(0);
    std::atexit(print_stats);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // A frame larger than an mbuf's data room cannot be received: not an input.
    static constexpr size_t max_frame = RTE_MBUF_DEFAULT_DATAROOM;
    if (++env->inputs % 4096 == 0) {
        env->now_ms += 60 * 1000;  // past every embryonic and UDP timeout
        env->w->expire(env->now_ms, 1u << 16);
        env->tb->snapshots->quiescent(0);
        next_phase();
    }

    static const uint8_t sep[4] = {'N', 'L', 'B', '|'};
    std::vector<std::pair<const uint8_t *, size_t>> pieces;
    const uint8_t *p = data;
    const uint8_t *end = data + size;
    while (pieces.size() < max_burst) {
        const uint8_t *hit =
            static_cast<const uint8_t *>(memmem(p, static_cast<size_t>(end - p), sep, sizeof(sep)));
        if (!hit) break;
        pieces.emplace_back(p, static_cast<size_t>(hit - p));
        p = hit + sizeof(sep);
    }
    if (!pieces.empty()) {
        if (pieces.size() < max_burst) pieces.emplace_back(p, static_cast<size_t>(end - p));
        for (auto &piece : pieces)
            if (piece.second > max_frame) return 0;
        run_burst(pieces);
        return 0;
    }
    if (size > max_frame) return 0;
    run_burst({{data, size}});
    run_burst({{data, size}, {data, size}});
    return 0;
}
