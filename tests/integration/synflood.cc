/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlb-synflood: a bounded SYN flood for the lab (tests/integration/synflood_lab_test.sh).
 *
 * Sends COUNT TCP SYNs over IPv4 out of one interface through an AF_PACKET socket, in
 * batches with sendmmsg(2), each from a random source address and port. Sources are drawn
 * from 198.18.0.0/15 (RFC 2544 benchmarking space) minus the /24s given with --exclude (the
 * lab's real subnets), and the destination must lie in 198.18.0.0/15 too: the tool refuses
 * anything else, so it can never send outside the lab's address space. Checksums are
 * correct, so a backend kernel answers each SYN it receives.
 *
 * usage: nlb-synflood --iface IF --dst-mac MAC --dst IP --dport PORT --count N
 *                     [--rate PPS] [--seed S] [--exclude A.B.C.0/24]...
 * Prints "sent N in S s (R pps)" on success; exit 2 on bad arguments, 1 on a send error.
 * Needs CAP_NET_RAW.
 */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr uint32_t lab_net = 0xC6120000u;   // 198.18.0.0
constexpr uint32_t lab_mask = 0xFFFE0000u;  // /15
constexpr unsigned frame_len = 14 + 20 + 20;
constexpr unsigned batch = 256;

bool in_lab(uint32_t a) {
    return (a & lab_mask) == lab_net;
}

uint16_t fold(uint32_t s) {
    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
    return static_cast<uint16_t>(~s);
}

uint32_t sum16(const uint8_t *p, unsigned len, uint32_t s = 0) {
    for (unsigned i = 0; i + 1 < len; i += 2) s += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    return s;
}

void put16(uint8_t *p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

void put32(uint8_t *p, uint32_t v) {
    put16(p, static_cast<uint16_t>(v >> 16));
    put16(p + 2, static_cast<uint16_t>(v));
}

struct options {
    std::string iface;
    uint8_t dst_mac[6] = {};
    bool have_mac = false;
    uint32_t dst = 0;
    uint16_t dport = 0;
    uint64_t count = 0;
    uint64_t rate = 0;  // packets per second; 0 = as fast as the socket takes them
    uint64_t seed = 1;
    std::vector<uint32_t> exclude;  // /24 network addresses (host order)
};

int usage(const char *why) {
    std::fprintf(stderr,
                 "nlb-synflood: %s\nusage: nlb-synflood --iface IF --dst-mac MAC --dst IP "
                 "--dport PORT --count N [--rate PPS] [--seed S] [--exclude A.B.C.0/24]...\n",
                 why);
    return 2;
}

bool parse_u64(const char *s, uint64_t max, uint64_t *out) {
    char *end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno || !end || *end || end == s || *s == '-' || v > max) return false;
    *out = v;
    return true;
}

bool parse_v4(const char *s, uint32_t *out) {
    in_addr a{};
    if (inet_pton(AF_INET, s, &a) != 1) return false;
    *out = ntohl(a.s_addr);
    return true;
}

// Returns 0 when parsed, else the exit code (after printing why).
int parse_args(int argc, char **argv, options *o) {
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (i + 1 >= argc) return usage(("missing value after " + a).c_str());
        const char *v = argv[++i];
        uint64_t n = 0;
        if (a == "--iface") {
            o->iface = v;
        } else if (a == "--dst-mac") {
            unsigned m[6];
            char tail;
            if (std::sscanf(v, "%x:%x:%x:%x:%x:%x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5],
                            &tail) != 6)
                return usage("--dst-mac must look like 02:00:00:00:00:01");
            for (int k = 0; k < 6; k++) {
                if (m[k] > 0xFF) return usage("--dst-mac must look like 02:00:00:00:00:01");
                o->dst_mac[k] = static_cast<uint8_t>(m[k]);
            }
            o->have_mac = true;
        } else if (a == "--dst") {
            if (!parse_v4(v, &o->dst)) return usage("--dst must be an IPv4 address");
            if (!in_lab(o->dst)) return usage("--dst must lie in 198.18.0.0/15");
        } else if (a == "--dport") {
            if (!parse_u64(v, 65535, &n) || n == 0) return usage("--dport must be 1..65535");
            o->dport = static_cast<uint16_t>(n);
        } else if (a == "--count") {
            if (!parse_u64(v, 1000000000, &o->count) || o->count == 0)
                return usage("--count must be 1..1000000000");
        } else if (a == "--rate") {
            if (!parse_u64(v, 100000000, &o->rate)) return usage("--rate must be 0..100000000");
        } else if (a == "--seed") {
            if (!parse_u64(v, UINT64_MAX, &o->seed)) return usage("--seed must be a number");
        } else if (a == "--exclude") {
            std::string s = v;
            uint32_t net = 0;
            if (s.size() < 4 || s.substr(s.size() - 3) != "/24" ||
                !parse_v4(s.substr(0, s.size() - 3).c_str(), &net) || (net & 0xFF) != 0)
                return usage("--exclude must be a /24 like 198.18.0.0/24");
            o->exclude.push_back(net);
        } else {
            return usage(("unknown option " + a).c_str());
        }
    }
    if (o->iface.empty() || !o->have_mac || !o->dst || !o->dport || !o->count)
        return usage("--iface, --dst-mac, --dst, --dport and --count are required");
    if (o->exclude.size() >= 512) return usage("--exclude leaves no source address");
    return 0;
}

// A random source in 198.18.0.0/15 outside the excluded /24s, never .0 or .255 of its /24.
uint32_t random_source(std::mt19937_64 &rng, const options &o) {
    for (;;) {
        uint32_t a = lab_net | static_cast<uint32_t>(rng() & ~lab_mask);
        uint32_t host = a & 0xFF;
        if (host == 0 || host == 255) continue;
        bool excluded = false;
        for (uint32_t net : o.exclude) excluded |= (a & 0xFFFFFF00u) == net;
        if (!excluded) return a;
    }
}

void build_syn(uint8_t *f, const uint8_t *src_mac, const options &o, uint32_t src, uint16_t sport,
               uint32_t seq) {
    std::memcpy(f, o.dst_mac, 6);
    std::memcpy(f + 6, src_mac, 6);
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, 40);
    put16(ip + 4, static_cast<uint16_t>(seq));
    put16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = 6;
    put16(ip + 10, 0);
    put32(ip + 12, src);
    put32(ip + 16, o.dst);
    put16(ip + 10, fold(sum16(ip, 20)));
    uint8_t *tcp = ip + 20;
    put16(tcp, sport);
    put16(tcp + 2, o.dport);
    put32(tcp + 4, seq);
    put32(tcp + 8, 0);
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;  // SYN
    put16(tcp + 14, 64240);
    put16(tcp + 16, 0);
    put16(tcp + 18, 0);
    uint32_t pseudo = sum16(ip + 12, 8) + 6 + 20;
    put16(tcp + 16, fold(sum16(tcp, 20, pseudo)));
}

double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char **argv) {
    options o;
    if (int rc = parse_args(argc, argv, &o)) return rc;
    const unsigned ifindex = if_nametoindex(o.iface.c_str());
    if (ifindex == 0) {
        std::fprintf(stderr, "nlb-synflood: Failed to find interface %s: %s\n", o.iface.c_str(),
                     std::strerror(errno));
        return 2;
    }
    int fd = socket(AF_PACKET, SOCK_RAW, 0);  // protocol 0: send only, receive nothing
    if (fd < 0) {
        std::fprintf(stderr, "nlb-synflood: Failed to open an AF_PACKET socket: %s\n",
                     std::strerror(errno));
        return 1;
    }
    // The interface's own MAC as the source.
    uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 1};
    {
        std::string path = "/sys/class/net/" + o.iface + "/address";
        if (FILE *f = std::fopen(path.c_str(), "r")) {
            unsigned m[6];
            if (std::fscanf(f, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6)
                for (int k = 0; k < 6; k++) src_mac[k] = static_cast<uint8_t>(m[k]);
            std::fclose(f);
        }
    }
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(ifindex);
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, o.dst_mac, 6);

    std::mt19937_64 rng(o.seed);
    std::vector<uint8_t> frames(batch * frame_len);
    mmsghdr msgs[batch];
    iovec iov[batch];
    std::memset(msgs, 0, sizeof(msgs));
    for (unsigned i = 0; i < batch; i++) {
        iov[i].iov_base = &frames[i * frame_len];
        iov[i].iov_len = frame_len;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &to;
        msgs[i].msg_hdr.msg_namelen = sizeof(to);
    }

    const double start = now_s();
    uint64_t sent = 0;
    while (sent < o.count) {
        const unsigned n = static_cast<unsigned>(std::min<uint64_t>(batch, o.count - sent));
        for (unsigned i = 0; i < n; i++) {
            const uint64_t r = rng();
            const uint16_t sport = static_cast<uint16_t>(1024 + (r % 64512));
            build_syn(&frames[i * frame_len], src_mac, o, random_source(rng, o), sport,
                      static_cast<uint32_t>(r >> 32));
        }
        unsigned done = 0;
        while (done < n) {
            int k = sendmmsg(fd, msgs + done, n - done, 0);
            if (k < 0) {
                if (errno == EINTR) continue;
                if (errno == ENOBUFS || errno == EAGAIN) {
                    usleep(100);
                    continue;
                }
                std::fprintf(stderr, "nlb-synflood: Failed to send: %s (after %llu)\n",
                             std::strerror(errno), static_cast<unsigned long long>(sent));
                close(fd);
                return 1;
            }
            done += static_cast<unsigned>(k);
        }
        sent += n;
        if (o.rate) {  // pace: never ahead of sent / rate seconds
            const double due = start + static_cast<double>(sent) / static_cast<double>(o.rate);
            const double ahead = due - now_s();
            if (ahead > 0) usleep(static_cast<useconds_t>(ahead * 1e6));
        }
    }
    const double secs = now_s() - start;
    close(fd);
    std::printf("sent %llu in %.3f s (%.0f pps)\n", static_cast<unsigned long long>(sent), secs,
                secs > 0 ? static_cast<double>(sent) / secs : 0.0);
    return 0;
}
