/* SPDX-License-Identifier: Apache-2.0 */
#include "pipeline/worker.h"

#include <rte_prefetch.h>

#include "net/build.h"
#include "rewrite/eth.h"
#include "rewrite/nat.h"
#include "rewrite/tunnel.h"

namespace nlb {

namespace {

/** How far ahead the parse stage prefetches packet data. */
constexpr uint16_t prefetch_ahead = 4;
/*
 * How far ahead the lookup stage prefetches connection entries (their buckets
 * were prefetched bucket_prefetch_ahead packets earlier). One packet of work (~50 ns) does not
 * cover a DRAM miss: with 1 M flows over memif, one ahead left the entry load
 * at a third of process_burst's time; 3 ahead forwards 6.1-6.5 Mpps instead
 * of 5.5-5.8 (2: 6.2, 4: 6.2-6.4, 6: 6.3-6.7), in-process within noise.
 */
constexpr uint16_t conn_prefetch_ahead = 3;
/*
 * How many buckets the parse stage prefetches; the lookup stage prefetches the
 * rest this far ahead. Prefetching all 32 of a burst at once filled the core's
 * miss buffers (the prefetch instructions themselves stalled: a fifth of
 * process_burst's time over memif); 8 in flight, spread over the burst, keep
 * them flowing (in-process 1 M flows +17 %, 3 of 3 interleaved pairs).
 */
constexpr uint16_t bucket_prefetch_ahead = 8;

bool is_own_address(const datapath &dp, const ip_addr &a, ip_family f) {
    for (uint16_t p = 0; p < dp.n_ports; p++) {
        const port_config &pc = dp.ports[p];
        if (f == ip_family::v4 ? (pc.has_v4 && pc.v4 == a) : (pc.has_v6 && pc.v6 == a)) return true;
    }
    return false;
}

}  // namespace

worker::worker(unsigned index, const datapath &dp)
    : index_(index),
      dp_(dp),
      sched_(dp.max_services, dp.max_backends, index),
      services_(std::make_unique<service_counters[]>(dp.max_services)),
      backends_(std::make_unique<backend_counters[]>(dp.max_backends)) {}

void worker::drop(verdict *out, uint16_t i, drop_reason r) {
    out[i] = verdict{action::drop, r, 0};
    counters_.drops[static_cast<unsigned>(r)].inc();
}

/*
 * Packets for the appliance itself or its VIPs that are not load-balanced
 * traffic: ARP and ICMP/ICMPv6 (echo, ND) go to the slow path. True when the
 * packet was given a verdict here. (TCP/UDP to an own address never matches a
 * connection; new_connection() names it to_host.)
 */
bool worker::classify_local(const snapshot *snap, uint16_t i, verdict *out) {
    const packet_meta &m = st_[i].meta;
    if (m.kind == l3_kind::arp || m.l4_proto == ipproto_icmp || m.l4_proto == ipproto_icmpv6) {
        out[i] = verdict{action::slow_path, drop_reason::none, 0};
        counters_.slow_path.inc();
        return true;
    }
    if (!snap) {
        drop(out, i, drop_reason::no_service);
        return true;
    }
    return false;
}

inline void worker::track_active(const conn &c) {
    const tcp_state st = c.state();
    const bool open = st == tcp_state::syn_recv || st == tcp_state::established ||
                      st == tcp_state::fin_wait || st == tcp_state::udp;
    const bool counted = (c.flags() & conn_flag_counted) != 0;
    if (open != counted) track_active_change(c, open);
}

void worker::track_active_change(const conn &c, bool open) {
    if (open) {  // a new SYN started a closed connection over
        dp_.conns->set_flags(&c, conn_flag_counted);
        sched_.counts().opened(c.backend());
    } else {  // FINs from both sides, or an RST: closed, though the entry lives on a while
        dp_.conns->clear_flags(&c, conn_flag_counted);
        sched_.counts().closed(c.backend());
    }
}

/*
 * A client's SYN found closed connection c (time_wait or close): true when its
 * backend no longer takes new connections, so the SYN must not restart c there.
 * While the backend still does, c starts over on it (conn_table::on_packet).
 */
bool worker::reuse_reschedules(const snapshot &snap, const conn &c) {
    const tcp_state st = c.state();
    if (st != tcp_state::time_wait && st != tcp_state::close) return false;
    const backend_ref ref = c.backend();
    return !snap.backend_valid(ref) || !snap.backends[ref.index].accepts_new();
}

void worker::process_burst(rte_mbuf **pkts, uint16_t n, verdict *out, uint32_t now_ms) {
    const snapshot *snap = dp_.snapshots->current();
    conn_table &ct = *dp_.conns;
    uint16_t fast[max_burst];
    uint16_t n_fast = 0;
    uint64_t rx_bytes = 0;

    // Stage 1: parse, classify, hash, prefetch the first bucket_prefetch_ahead buckets.
    for (uint16_t i = 0; i < prefetch_ahead && i < n; i++)
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
    for (uint16_t i = 0; i < n; i++) {
        if (i + prefetch_ahead < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + prefetch_ahead], void *));
        rte_mbuf *m = pkts[i];
        rx_bytes += rte_pktmbuf_pkt_len(m);
        pkt_state &s = st_[i];
        drop_reason r = parse_packet(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m),
                                     &s.meta);
        if (r != drop_reason::none) {
            drop(out, i, r);
            continue;
        }
        // TCP and UDP with a snapshot go on; the rest (ARP, ICMP, no config yet) is decided here.
        if (!(snap && (s.meta.l4_proto == ipproto_tcp || s.meta.l4_proto == ipproto_udp)) &&
            classify_local(snap, i, out))
            continue;
        s.hash = conn_table::hash(s.meta.key);
        s.bucket = ct.home_bucket(s.hash);
        if (n_fast < bucket_prefetch_ahead) ct.prefetch_bucket(s.bucket);
        fast[n_fast++] = i;
    }
    counters_.rx_packets.add(n);
    counters_.rx_bytes.add(rx_bytes);

    // Stage 2: look up and decide, prefetching the bucket bucket_prefetch_ahead packets on and
    // the entries conn_prefetch_ahead packets on (their bucket is in cache by then).
    for (uint16_t g = 0; g < n_groups; g++) group_len_[g] = 0;
    for (uint16_t k = 0; k < conn_prefetch_ahead && k < n_fast; k++)
        ct.prefetch_conn(st_[fast[k]].hash, st_[fast[k]].bucket);
    for (uint16_t k = 0; k < n_fast; k++) {
        if (k + bucket_prefetch_ahead < n_fast)
            ct.prefetch_bucket(st_[fast[k + bucket_prefetch_ahead]].bucket);
        if (k + conn_prefetch_ahead < n_fast) {
            const pkt_state &ahead = st_[fast[k + conn_prefetch_ahead]];
            ct.prefetch_conn(ahead.hash, ahead.bucket);
        }
        const uint16_t i = fast[k];
        pkt_state &s = st_[i];
        conn_dir dir = conn_dir::original;
        conn *c = ct.lookup(s.meta.key, s.hash, s.bucket, &dir);
        if (c && (s.meta.tcp_flags & (tcp_flag_syn | tcp_flag_ack | tcp_flag_rst)) == tcp_flag_syn &&
            dir == conn_dir::original && reuse_reschedules(*snap, *c)) {
            // Port reuse: the client starts a new connection on the tuple of a closed one
            // whose backend takes no new connections any more (unhealthy, draining, weight 0,
            // removed). It is a new connection like any other, scheduled afresh; the closed
            // one is forgotten (lookups skip it, its owner's sweep frees it).
            ct.mark_dead(c);
            c = nullptr;
        }
        if (c) {
            const backend_ref ref = c->backend();
            if (!snap->backend_valid(ref)) {
                // The backend was removed: forget the flow and reset the client.
                ct.mark_dead(c);
                if (dir == conn_dir::original && s.meta.l4_proto == ipproto_tcp &&
                    !(s.meta.tcp_flags & tcp_flag_rst)) {
                    counters_.drops[static_cast<unsigned>(drop_reason::backend_gone)].inc();
                    reset_flow(pkts[i], i, out);
                } else {
                    drop(out, i, drop_reason::backend_gone);
                }
                continue;
            }
            // Keep the client's persistence template alive while it is active:
            // refreshed when a packet starts a new 1.024 s period of the flow.
            const bool new_period = (now_ms >> 10) != (c->last_seen_ms() >> 10);
            ct.on_packet(c, dir, s.meta.tcp_flags, now_ms);
            if (c->owner() == index_) track_active(*c);
            const snapshot_service &svc = snap->services[c->service()];
            if (svc.persistence_timeout_s && dir == conn_dir::original && new_period) {
                dp_.persist->touch(s.meta.key.src, svc.index,
                                   persist_table::hash(s.meta.key.src, svc.index), now_ms);
            }
        } else {
            c = new_connection(*snap, i, pkts[i], out, now_ms);
            if (!c) continue;
        }
        s.c = c;
        s.backend_slot = c->backend().index;
        const uint32_t len = rte_pktmbuf_pkt_len(pkts[i]);
        services_[c->service()].packets.inc();
        services_[c->service()].bytes.add(len);
        backends_[s.backend_slot].packets.inc();
        backends_[s.backend_slot].bytes.add(len);

        const bool v6 = s.meta.key.family == ip_family::v6;
        group g;
        switch (c->mode()) {
        case fwd_mode::nat:
            g = dir == conn_dir::original ? (v6 ? g6_nat : g4_nat) : (v6 ? g6_nat_reply : g4_nat_reply);
            break;
        case fwd_mode::dsr: g = v6 ? g6_dsr : g4_dsr; break;
        default: g = v6 ? g6_tunnel : g4_tunnel; break;
        }
        groups_[g][group_len_[g]++] = static_cast<uint8_t>(i);
    }

    // Stage 3: rewrite, one specialised loop per group.
    if (!snap) return;
    emit_group<ip_family::v4, fwd_mode::nat, conn_dir::original>(*snap, pkts, groups_[g4_nat], group_len_[g4_nat], out);
    emit_group<ip_family::v4, fwd_mode::nat, conn_dir::reply>(*snap, pkts, groups_[g4_nat_reply], group_len_[g4_nat_reply], out);
    emit_group<ip_family::v4, fwd_mode::dsr, conn_dir::original>(*snap, pkts, groups_[g4_dsr], group_len_[g4_dsr], out);
    emit_group<ip_family::v4, fwd_mode::tunnel, conn_dir::original>(*snap, pkts, groups_[g4_tunnel], group_len_[g4_tunnel], out);
    emit_group<ip_family::v6, fwd_mode::nat, conn_dir::original>(*snap, pkts, groups_[g6_nat], group_len_[g6_nat], out);
    emit_group<ip_family::v6, fwd_mode::nat, conn_dir::reply>(*snap, pkts, groups_[g6_nat_reply], group_len_[g6_nat_reply], out);
    emit_group<ip_family::v6, fwd_mode::dsr, conn_dir::original>(*snap, pkts, groups_[g6_dsr], group_len_[g6_dsr], out);
    emit_group<ip_family::v6, fwd_mode::tunnel, conn_dir::original>(*snap, pkts, groups_[g6_tunnel], group_len_[g6_tunnel], out);
}

/*
 * A packet of no known connection: find its service, schedule a backend
 * (remembered client first when persistence is on) and insert the
 * connection. Returns nullptr after giving the packet a drop verdict.
 */
conn *worker::new_connection(const snapshot &snap, uint16_t i, rte_mbuf *m, verdict *out,
                             uint32_t now_ms) {
    pkt_state &s = st_[i];
    const flow_key &k = s.meta.key;
    const snapshot_service *svc = snap.find_service(k.dst, k.dport, k.proto, k.family);
    if (!svc) {
        // TCP/UDP to the appliance's own address: no exception path to the kernel yet.
        drop(out, i, is_own_address(dp_, k.dst, k.family) ? drop_reason::to_host : drop_reason::no_service);
        return nullptr;
    }
    if (k.proto == ipproto_tcp &&
        (s.meta.tcp_flags & (tcp_flag_syn | tcp_flag_ack | tcp_flag_rst)) != tcp_flag_syn) {
        // A segment of no connection we know (purged, evicted, expired, or the
        // dataplane restarted): answer it with a RST as the endpoint would
        // (RFC 9293 3.10.7.1), so the client learns at once instead of
        // retransmitting into silence. Never answer a RST.
        services_[svc->index].drops.inc();
        counters_.drops[static_cast<unsigned>(drop_reason::not_syn)].inc();
        if (s.meta.tcp_flags & tcp_flag_rst)
            out[i] = verdict{action::drop, drop_reason::not_syn, 0};
        else
            reset_flow(m, i, out);
        return nullptr;
    }

    uint32_t slot = no_backend;
    uint32_t ph = 0;
    if (svc->persistence_timeout_s) {
        ph = persist_table::hash(k.src, svc->index);
        backend_ref remembered;
        if (dp_.persist->lookup(k.src, svc->index, ph, now_ms, &remembered) &&
            snap.backend_valid(remembered) && snap.backends[remembered.index].accepts_new() &&
            snap.backends[remembered.index].service == svc->index) {
            slot = remembered.index;
            counters_.persist_hits.inc();
        }
    }
    if (slot == no_backend) slot = pick_backend(snap, *svc, sched_, k.src);
    if (slot == no_backend) {
        services_[svc->index].drops.inc();
        drop(out, i, drop_reason::no_backend);
        return nullptr;
    }
    const snapshot_backend &b = snap.backends[slot];
    const backend_ref ref = snap.ref_of(slot);

    conn_value v;
    v.service = svc->index;
    v.backend = ref;
    v.mode = svc->mode;
    v.flags = conn_flag_counted;
    flow_key reply{};
    const flow_key *reply_ptr = nullptr;
    uint32_t reply_hash = 0;
    if (svc->mode == fwd_mode::nat) {
        reply.src = b.addr;
        reply.dst = k.src;
        reply.sport = b.port_be;
        reply.dport = k.sport;
        reply.proto = k.proto;
        reply.family = k.family;
        reply_ptr = &reply;
        reply_hash = conn_table::hash(reply);
    }
    drop_reason why = drop_reason::none;
    conn *c = dp_.conns->insert(index_, k, s.hash, reply_ptr, reply_hash, v, now_ms, &why,
                                [this](const conn &victim, conn_free_reason) {
                                    if (victim.flags() & conn_flag_counted)
                                        sched_.counts().closed(victim.backend());
                                    counters_.closed_conns.inc();
                                });
    if (!c) {
        services_[svc->index].drops.inc();
        drop(out, i, why);
        return nullptr;
    }
    if (c->backend() == ref && c->owner() == index_ && c->created_ms() == now_ms &&
        c->orig_key() == k) {
        // A connection we just made (not one another lcore raced us to).
        sched_.counts().opened(ref);
        counters_.new_conns.inc();
        services_[svc->index].new_conns.inc();
        backends_[slot].new_conns.inc();
        if (svc->persistence_timeout_s)
            dp_.persist->update(k.src, svc->index, ph, ref, svc->persistence_timeout_s, now_ms);
    }
    dp_.conns->on_packet(c, conn_dir::original, s.meta.tcp_flags, now_ms);
    return c;
}

/*
 * Turns a client's packet, in place, into a TCP RST|ACK from the VIP back to
 * the client (its flow's backend is gone, or the flow is unknown) and routes
 * it. The caller counts why.
 */
void worker::reset_flow(rte_mbuf *m, uint16_t i, verdict *out) {
    pkt_state &s = st_[i];
    uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
    const uint8_t *tcp = frame + s.meta.l4_offset;
    // RFC 5961: the client accepts a RST whose seq is its RCV.NXT, i.e. the
    // ack it just sent; ack what it sent (SYN and FIN count one).
    const uint32_t seq = wire::load_be32(tcp + 4);
    const uint32_t ack = wire::load_be32(tcp + 8);
    uint32_t seg = s.meta.l4_len - s.meta.tcp_hdr_len;
    if (s.meta.tcp_flags & tcp_flag_syn) seg++;
    if (s.meta.tcp_flags & tcp_flag_fin) seg++;
    flow_key key{};
    key.src = s.meta.key.dst;
    key.dst = s.meta.key.src;
    key.sport = s.meta.key.dport;
    key.dport = s.meta.key.sport;
    key.proto = ipproto_tcp;
    key.family = s.meta.key.family;
    l2_header l2{};
    l2.vlan = s.meta.has_vlan;
    l2.vlan_tci = s.meta.vlan_tci;
    const uint32_t cap = rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m);
    const uint32_t len = build_tcp_rst(frame, cap, l2, key, ack, seq + seg);
    if (len == 0) {  // cannot happen for a frame parse_packet accepted; keep the verdict safe
        out[i] = verdict{action::drop, drop_reason::backend_gone, 0};
        return;
    }
    rte_pktmbuf_data_len(m) = static_cast<uint16_t>(len);
    rte_pktmbuf_pkt_len(m) = len;
    counters_.resets_sent.inc();
    finish_l2(m, i, key.dst, key.family, out);
}

/*
 * The egress port, next hop and its MAC towards dst, from the worker's cache
 * or the route and neighbour tables. False when the MAC is not known (*nh is
 * still set when a route exists; nh->port == UINT16_MAX when none does).
 */
inline worker::l2_cache_entry &worker::l2_slot(const ip_addr &dst) {
    uint32_t w0, w3;
    std::memcpy(&w0, dst.bytes, 4);
    std::memcpy(&w3, dst.bytes + 12, 4);
    return l2_cache_[((w0 ^ w3) * 0x9e3779b1u) >> 24];
}

inline bool worker::resolve_l2(const ip_addr &dst, ip_family f, next_hop *nh, rte_ether_addr *mac) {
    const l2_cache_entry &e = l2_slot(dst);
    if (e.valid && e.version == dp_.neighbours->version() && e.family == f && e.dst == dst) {
        *nh = e.nh;
        *mac = e.mac;
        return true;
    }
    return resolve_l2_slow(dst, f, nh, mac);
}

/* A miss in the worker's cache: the route and neighbour tables, then the cache entry. */
bool worker::resolve_l2_slow(const ip_addr &dst, ip_family f, next_hop *nh, rte_ether_addr *mac) {
    l2_cache_entry &e = l2_slot(dst);
    const uint64_t version = dp_.neighbours->version();
    if (!dp_.routes->lookup(dst, f, nh)) {
        nh->port = UINT16_MAX;
        return false;
    }
    if (!dp_.neighbours->lookup(nh->gateway, mac)) return false;
    e = l2_cache_entry{dst, version, *nh, *mac, f, true};
    return true;
}

/*
 * Fills in the Ethernet addresses towards dst and sets the verdict: tx, or
 * resolve when the next hop's MAC is not known yet.
 */
inline void worker::finish_l2(rte_mbuf *m, uint16_t i, const ip_addr &dst, ip_family f,
                              verdict *out) {
    uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
    next_hop nh;
    rte_ether_addr mac;
    if (!resolve_l2(dst, f, &nh, &mac)) {
        if (nh.port == UINT16_MAX) {
            drop(out, i, drop_reason::no_neighbour);
            return;
        }
        std::memcpy(frame + 6, dp_.ports[nh.port].mac.addr_bytes, 6);
        out[i] = verdict{action::resolve, drop_reason::none, nh.port};
        next_hop_[i] = nh.gateway;
        counters_.resolve.inc();
        return;
    }
    set_eth_addrs(frame, mac, dp_.ports[nh.port].mac);
    out[i] = verdict{action::tx, drop_reason::none, nh.port};
    counters_.forwarded.inc();
}

template <ip_family F, fwd_mode M, conn_dir D>
void worker::emit_group(const snapshot &snap, rte_mbuf **pkts, const uint8_t *idx, uint16_t count,
                        verdict *out) {
    for (uint16_t k = 0; k < count; k++) {
        const uint16_t i = idx[k];
        pkt_state &s = st_[i];
        rte_mbuf *m = pkts[i];
        uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
        if constexpr (D == conn_dir::reply) {
            // nat reply: backend → client becomes VIP → client.
            const flow_key &orig = s.c->orig_key();
            nat_reverse(frame + s.meta.l3_offset, s.meta, orig.dst, orig.dport);
            finish_l2(m, i, orig.src, F, out);
        } else {
            const snapshot_backend &b = snap.backends[s.backend_slot];
            if constexpr (M == fwd_mode::nat) {
                nat_forward(frame + s.meta.l3_offset, s.meta, b.addr, b.port_be);
            } else if constexpr (M == fwd_mode::tunnel) {
                next_hop nh;
                rte_ether_addr mac;
                resolve_l2(b.addr, F, &nh, &mac);
                const uint32_t mtu = nh.port < dp_.n_ports ? dp_.ports[nh.port].mtu : 0;
                const ip_addr src =
                    F == ip_family::v4
                        ? tunnel_outer_source(dp_.tunnel.src_v4, dp_.tunnel.src_v4_len, s.hash, F)
                        : tunnel_outer_source(dp_.tunnel.src_v6, dp_.tunnel.src_v6_len, s.hash, F);
                const drop_reason r = tunnel_encap(m, s.meta, src, b.addr, s.hash, mtu);
                if (r != drop_reason::none) {
                    drop(out, i, r);
                    continue;
                }
            }
            // dsr: the IP packet is untouched; only the Ethernet addresses change.
            finish_l2(m, i, b.addr, F, out);
        }
    }
}

unsigned worker::expire(uint32_t now_ms, unsigned budget) {
    return dp_.conns->expire(index_, now_ms, budget, [this](const conn &c, conn_free_reason) {
        if (c.flags() & conn_flag_counted) sched_.counts().closed(c.backend());
        const backend_ref ref = c.backend();
        if (ref.index < dp_.max_backends) backends_[ref.index].closed.inc();
        counters_.closed_conns.inc();
    });
}

}  // namespace nlb
