/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlb-bench-pcapgen: writes the pcap files the memif benchmark
 * (bench/testpmd-memif.sh) replays with dpdk-testpmd's net_pcap.
 *
 *   traffic: N TCP flows to VIP:PORT from distinct client addresses/ports inside
 *            198.18.0.0/15 (never the VIP or the appliance's own /24). The file holds
 *            every flow's SYN first, then ROUNDS rounds of one established segment
 *            (ACK with 8 bytes of data) per flow, each round in a different scattered
 *            order, so a replay with infinite_rx=1 keeps hitting all N connections
 *            with little cache locality (the in-process benchmark does the same).
 *   arp:     one ARP request per backend, from the backend (its address and MAC) to
 *            the appliance's backend-port address: nlb learns a neighbour that asks
 *            for one of its own addresses, which is how the benchmark gives nlb its
 *            backends' MACs on a memif link where nobody answers ARP.
 *
 * The pcap format is written directly (classic libpcap, microsecond timestamps,
 * LINKTYPE_ETHERNET). Checksums are correct. Bad arguments: one line on stderr,
 * exit 2, nothing written.
 */
#include <arpa/inet.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct mac_addr {
    uint8_t b[6];
};

struct options {
    std::string mode;  // "traffic" or "arp"
    std::string out;
    uint64_t flows = 1000;
    uint32_t rounds = 3;
    uint32_t vip = 0;
    uint16_t port = 80;
    mac_addr dst_mac{};
    mac_addr src_mac{};
    bool have_vip = false, have_dst = false, have_src = false;
    uint32_t target = 0;  // arp: the appliance's backend-port address
    bool have_target = false;
    std::vector<std::pair<uint32_t, mac_addr>> backends;  // arp: address=MAC
};

[[noreturn]] void usage_error(const std::string &msg) {
    std::fprintf(stderr, "nlb-bench-pcapgen: %s\n", msg.c_str());
    std::fprintf(stderr,
                 "usage: nlb-bench-pcapgen traffic --out FILE --flows N [--rounds R] --vip A "
                 "[--port P] --dst-mac M --src-mac M\n"
                 "       nlb-bench-pcapgen arp --out FILE --target A --backend A=MAC "
                 "[--backend A=MAC]...\n");
    std::exit(2);
}

bool parse_mac(const std::string &s, mac_addr *m) {
    unsigned v[6];
    char tail;
    if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                    &tail) != 6)
        return false;
    for (int i = 0; i < 6; i++) {
        if (v[i] > 255) return false;
        m->b[i] = static_cast<uint8_t>(v[i]);
    }
    return true;
}

bool parse_ipv4(const std::string &s, uint32_t *host_order) {
    in_addr a;
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
    *host_order = ntohl(a.s_addr);
    return true;
}

bool parse_uint(const std::string &s, uint64_t lo, uint64_t hi, uint64_t *out) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return false;
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
    if (errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool in_bench_range(uint32_t a) { return (a >> 17) == (0xc6120000u >> 17); }  // 198.18.0.0/15

options parse_args(int argc, char **argv) {
    options o;
    if (argc < 2) usage_error("missing mode (traffic or arp)");
    o.mode = argv[1];
    if (o.mode != "traffic" && o.mode != "arp") usage_error("unknown mode '" + o.mode + "'");
    for (int i = 2; i < argc; i++) {
        const std::string k = argv[i];
        if (i + 1 >= argc) usage_error("option " + k + " needs a value");
        const std::string v = argv[++i];
        uint64_t n;
        if (k == "--out") {
            o.out = v;
        } else if (k == "--flows") {
            if (!parse_uint(v, 1, 16u << 20, &n)) usage_error("--flows: '" + v + "' not in 1..16777216");
            o.flows = n;
        } else if (k == "--rounds") {
            if (!parse_uint(v, 0, 64, &n)) usage_error("--rounds: '" + v + "' not in 0..64");
            o.rounds = static_cast<uint32_t>(n);
        } else if (k == "--port") {
            if (!parse_uint(v, 1, 65535, &n)) usage_error("--port: '" + v + "' not in 1..65535");
            o.port = static_cast<uint16_t>(n);
        } else if (k == "--vip") {
            if (!parse_ipv4(v, &o.vip)) usage_error("--vip: '" + v + "' is not an IPv4 address");
            o.have_vip = true;
        } else if (k == "--target") {
            if (!parse_ipv4(v, &o.target)) usage_error("--target: '" + v + "' is not an IPv4 address");
            o.have_target = true;
        } else if (k == "--dst-mac") {
            if (!parse_mac(v, &o.dst_mac)) usage_error("--dst-mac: '" + v + "' is not a MAC");
            o.have_dst = true;
        } else if (k == "--src-mac") {
            if (!parse_mac(v, &o.src_mac)) usage_error("--src-mac: '" + v + "' is not a MAC");
            o.have_src = true;
        } else if (k == "--backend") {
            const size_t eq = v.find('=');
            uint32_t a;
            mac_addr m;
            if (eq == std::string::npos || !parse_ipv4(v.substr(0, eq), &a) ||
                !parse_mac(v.substr(eq + 1), &m))
                usage_error("--backend: '" + v + "' is not ADDRESS=MAC");
            o.backends.emplace_back(a, m);
        } else {
            usage_error("unknown option '" + k + "'");
        }
    }
    if (o.out.empty()) usage_error("--out is required");
    if (o.mode == "traffic") {
        if (!o.have_vip || !o.have_dst || !o.have_src)
            usage_error("traffic needs --vip, --dst-mac and --src-mac");
        if (!in_bench_range(o.vip)) usage_error("--vip must be inside 198.18.0.0/15");
    } else {
        if (!o.have_target || o.backends.empty()) usage_error("arp needs --target and --backend");
        if (!in_bench_range(o.target)) usage_error("--target must be inside 198.18.0.0/15");
        for (const auto &b : o.backends)
            if (!in_bench_range(b.first)) usage_error("--backend addresses must be inside 198.18.0.0/15");
    }
    return o;
}

/* Buffered writer of classic pcap records. */
class pcap_writer {
public:
    explicit pcap_writer(const std::string &path) : path_(path) {
        f_ = std::fopen(path.c_str(), "wb");
        if (!f_) {
            std::fprintf(stderr, "nlb-bench-pcapgen: Failed to create %s: %s\n", path.c_str(),
                         std::strerror(errno));
            std::exit(1);
        }
        static std::vector<char> buf(1 << 20);
        std::setvbuf(f_, buf.data(), _IOFBF, buf.size());
        const uint32_t hdr[6] = {0xa1b2c3d4u, 2u | (4u << 16), 0, 0, 65535, 1};  // LE host
        write(hdr, sizeof(hdr));
    }
    void record(const uint8_t *frame, uint32_t len) {
        const uint32_t rec[4] = {static_cast<uint32_t>(n_ / 1000000), static_cast<uint32_t>(n_ % 1000000),
                                 len, len};
        write(rec, sizeof(rec));
        write(frame, len);
        n_++;
    }
    void close() {
        if (std::fclose(f_) != 0) fail();
        f_ = nullptr;
    }
    uint64_t count() const { return n_; }

private:
    void write(const void *p, size_t n) {
        if (std::fwrite(p, 1, n, f_) != n) fail();
    }
    [[noreturn]] void fail() {
        std::fprintf(stderr, "nlb-bench-pcapgen: Failed to write %s: %s\n", path_.c_str(),
                     std::strerror(errno));
        std::remove(path_.c_str());
        std::exit(1);
    }
    std::string path_;
    FILE *f_ = nullptr;
    uint64_t n_ = 0;
};

void put16(uint8_t *p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t *p, uint32_t v) {
    put16(p, static_cast<uint16_t>(v >> 16));
    put16(p + 2, static_cast<uint16_t>(v));
}

uint32_t sum16(const uint8_t *p, size_t n, uint32_t acc) {
    for (size_t i = 0; i + 1 < n; i += 2) acc += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) acc += static_cast<uint32_t>(p[n - 1] << 8);
    return acc;
}
uint16_t fold(uint32_t acc) {
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return static_cast<uint16_t>(~acc);
}

/*
 * Client i (0-based): addresses 198.18.2.0 upwards (198.18.0.0/23 holds the
 * appliance's client subnet and the VIP), 4096 source ports per address.
 */
void client_of(uint64_t i, uint32_t *addr, uint16_t *port) {
    *addr = 0xc6120200u + static_cast<uint32_t>(i / 4096);
    *port = static_cast<uint16_t>(10000 + i % 4096);
}

/* Ethernet + IPv4 + TCP; SYN carries MSS/WS options, established segments 8 data bytes. */
uint32_t build_tcp(uint8_t *f, const options &o, uint64_t i, bool syn) {
    uint32_t saddr;
    uint16_t sport;
    client_of(i, &saddr, &sport);
    std::memcpy(f, o.dst_mac.b, 6);
    std::memcpy(f + 6, o.src_mac.b, 6);
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    const uint32_t opt_len = syn ? 8 : 0, data_len = syn ? 0 : 8;
    const uint32_t tcp_len = 20 + opt_len + data_len;
    std::memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, static_cast<uint16_t>(20 + tcp_len));
    put16(ip + 4, static_cast<uint16_t>(i));
    put16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = 6;
    put32(ip + 12, saddr);
    put32(ip + 16, o.vip);
    put16(ip + 10, fold(sum16(ip, 20, 0)));
    uint8_t *tcp = ip + 20;
    std::memset(tcp, 0, tcp_len);
    put16(tcp, sport);
    put16(tcp + 2, o.port);
    const uint32_t isn = static_cast<uint32_t>(i * 2654435761u);
    put32(tcp + 4, syn ? isn : isn + 1);
    put32(tcp + 8, syn ? 0 : 1);
    tcp[12] = static_cast<uint8_t>(((20 + opt_len) / 4) << 4);
    tcp[13] = syn ? 0x02 : 0x18;  // SYN, or PSH|ACK
    put16(tcp + 14, 65535);
    if (syn) {
        const uint8_t opts[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};  // MSS 1460, NOP, WS 7
        std::memcpy(tcp + 20, opts, 8);
    } else {
        std::memcpy(tcp + 20, "nlbbench", 8);
    }
    uint8_t pseudo[12];
    std::memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 6;
    put16(pseudo + 10, static_cast<uint16_t>(tcp_len));
    put16(tcp + 16, fold(sum16(tcp, tcp_len, sum16(pseudo, 12, 0))));
    return 14 + 20 + tcp_len;
}

uint64_t gcd(uint64_t a, uint64_t b) {
    while (b) {
        const uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void write_traffic(const options &o) {
    pcap_writer w(o.out);
    uint8_t f[128];
    for (uint64_t i = 0; i < o.flows; i++) w.record(f, build_tcp(f, o, i, true));
    // Each round visits every flow once, by a stride coprime with N (a different one
    // per round): consecutive segments belong to far-apart flows.
    for (uint32_t r = 0; r < o.rounds; r++) {
        uint64_t stride = (o.flows * 618034 / 1000000 + 7919 * (r + 1)) % o.flows;
        if (stride == 0) stride = 1;
        while (gcd(stride, o.flows) != 1) stride++;
        uint64_t j = (r * 104729u) % o.flows;
        for (uint64_t k = 0; k < o.flows; k++) {
            w.record(f, build_tcp(f, o, j, false));
            j += stride;
            if (j >= o.flows) j -= o.flows;
        }
    }
    w.close();
    std::printf("%s: %llu packets (%llu flows, 1 SYN + %u segments each)\n", o.out.c_str(),
                static_cast<unsigned long long>(w.count()), static_cast<unsigned long long>(o.flows),
                o.rounds);
}

void write_arp(const options &o) {
    pcap_writer w(o.out);
    for (const auto &[addr, mac] : o.backends) {
        uint8_t f[60] = {};
        std::memset(f, 0xff, 6);
        std::memcpy(f + 6, mac.b, 6);
        put16(f + 12, 0x0806);
        uint8_t *a = f + 14;
        put16(a, 1);
        put16(a + 2, 0x0800);
        a[4] = 6;
        a[5] = 4;
        put16(a + 6, 1);  // request
        std::memcpy(a + 8, mac.b, 6);
        put32(a + 14, addr);
        put32(a + 24, o.target);
        w.record(f, sizeof(f));
    }
    w.close();
    std::printf("%s: %llu ARP requests to %u.%u.%u.%u\n", o.out.c_str(),
                static_cast<unsigned long long>(w.count()), o.target >> 24, (o.target >> 16) & 255,
                (o.target >> 8) & 255, o.target & 255);
}

}  // namespace

int main(int argc, char **argv) {
    const options o = parse_args(argc, argv);
    if (o.mode == "traffic") {
        write_traffic(o);  // at most 16 Mi flows: clients 198.18.2.0 - 198.18.17.255
    } else {
        write_arp(o);
    }
    return 0;
}
