/* SPDX-License-Identifier: Apache-2.0 */
#include "slow_path.h"

#include <rte_ethdev.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <cstring>

#include "net/build.h"
#include "net/parse.h"
#include "net/wire.h"

namespace nlb::dataplane {

namespace {

constexpr unsigned ring_burst = 32;

/** An ARP request for target_ip_be from (mac, sender_ip_be), broadcast. */
uint32_t build_arp_request(uint8_t *out, uint32_t cap, const rte_ether_addr &mac,
                           uint32_t sender_ip_be, uint32_t target_ip_be) {
    if (cap < 60) return 0;
    std::memset(out, 0, 60);
    l2_header l2{};
    std::memset(l2.dst.addr_bytes, 0xff, 6);
    l2.src = mac;
    uint8_t *p = out + write_l2(out, l2, wire::ethertype_arp);
    const uint8_t fixed[8] = {0, 1, 8, 0, 6, 4, 0, 1};  // Ethernet, IPv4, request
    std::memcpy(p, fixed, 8);
    std::memcpy(p + 8, mac.addr_bytes, 6);
    std::memcpy(p + 14, &sender_ip_be, 4);
    std::memcpy(p + 24, &target_ip_be, 4);  // target MAC stays zero
    return 60;
}

/** The link-layer address option of type `type` in ND options [p, end), or null. */
const uint8_t *nd_option(const uint8_t *p, const uint8_t *end, uint8_t type) {
    while (p + 2 <= end) {
        const uint32_t len = uint32_t{p[1]} * 8;
        if (len == 0 || p + len > end) return nullptr;
        if (p[0] == type && len >= 8) return p + 2;
        p += len;
    }
    return nullptr;
}

}  // namespace

slow_path::slow_path(const slow_path_config &config) : cfg_(config) {
    cfg_.dp->snapshots->offline(cfg_.rcu_id);
}

slow_path::~slow_path() {
    for (pending_hop &p : pending_)
        for (rte_mbuf *m : p.queue) rte_pktmbuf_free(m);
}

uint16_t slow_path::port_index(uint16_t port_id) const {
    for (uint16_t p = 0; p < cfg_.dp->n_ports; p++)
        if (cfg_.port_ids[p] == port_id) return p;
    return UINT16_MAX;
}

void slow_path::drop(rte_mbuf *m, drop_reason r) {
    rte_pktmbuf_free(m);
    counters_.drops[static_cast<unsigned>(r)].inc();
}

void slow_path::send(uint16_t port, rte_mbuf *m) {
    m->ol_flags = 0;
    if (cfg_.own_tx_queue[port]) {
        if (rte_eth_tx_burst(cfg_.port_ids[port], cfg_.tx_queue[port], &m, 1) == 1) {
            counters_.tx_packets.inc();
            return;
        }
    } else if (cfg_.tx_ring) {
        m->port = port;
        if (rte_ring_enqueue(cfg_.tx_ring, m) == 0) {
            counters_.tx_packets.inc();
            return;
        }
    }
    drop(m, drop_reason::tx_full);
}

bool slow_path::is_local(const ip_addr &a, ip_family f) const {
    for (uint16_t p = 0; p < cfg_.dp->n_ports; p++) {
        const port_config &pc = cfg_.dp->ports[p];
        if (f == ip_family::v4 ? (pc.has_v4 && pc.v4 == a) : (pc.has_v6 && pc.v6 == a)) return true;
    }
    return snap_ && snap_->is_vip(a, f);
}

slow_path::pending_hop *slow_path::find_pending(const ip_addr &ip) {
    for (pending_hop &p : pending_)
        if (p.ip == ip) return &p;
    return nullptr;
}

unsigned slow_path::poll(uint32_t now_ms) {
    snapshot_manager &mgr = *cfg_.dp->snapshots;
    mgr.online(cfg_.rcu_id);
    snap_ = mgr.current();
    unsigned handled = 0;
    rte_mbuf *pkts[ring_burst];
    for (rte_ring *r : cfg_.slow_rings) {
        const unsigned n =
            rte_ring_dequeue_burst(r, reinterpret_cast<void **>(pkts), ring_burst, nullptr);
        for (unsigned i = 0; i < n; i++) handle(pkts[i], now_ms);
        handled += n;
    }
    resolve_request reqs[ring_burst];
    for (rte_ring *r : cfg_.resolve_rings) {
        const unsigned n =
            rte_ring_dequeue_burst_elem(r, reqs, sizeof(resolve_request), ring_burst, nullptr);
        for (unsigned i = 0; i < n; i++) handle_resolve(reqs[i], now_ms);
        handled += n;
    }
    if (snap_ && snap_->version != snapshot_version_) check_vips();
    if (now_ms - last_timers_ms_ >= 100) {
        last_timers_ms_ = now_ms;
        run_timers(now_ms);
    }
    snap_ = nullptr;
    mgr.offline(cfg_.rcu_id);
    return handled;
}

void slow_path::handle(rte_mbuf *m, uint32_t now_ms) {
    counters_.received.inc();
    const uint16_t port = port_index(m->port);
    if (port == UINT16_MAX || m->nb_segs != 1) return drop(m, drop_reason::to_host);
    packet_meta meta;
    const drop_reason r =
        parse_packet(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), &meta);
    if (r != drop_reason::none) return drop(m, r);
    if (meta.kind == l3_kind::arp) return handle_arp(m, port, meta, now_ms);
    if (meta.l4_proto == ipproto_icmpv6 && (meta.icmp_type == wire::icmpv6_neighbor_solicit ||
                                            meta.icmp_type == wire::icmpv6_neighbor_advert))
        return handle_icmpv6(m, port, meta, now_ms);
    const bool echo =
        meta.l4_proto == ipproto_icmp
            ? meta.icmp_type == wire::icmp_echo_request
            : meta.l4_proto == ipproto_icmpv6 && meta.icmp_type == wire::icmpv6_echo_request;
    if (echo && is_local(meta.key.dst, meta.key.family)) {
        uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
        const uint32_t cap = rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m);
        const uint32_t n = build_echo_reply(frame, cap, frame, rte_pktmbuf_data_len(m), meta);
        if (n == 0) return drop(m, drop_reason::to_host);
        rte_pktmbuf_data_len(m) = static_cast<uint16_t>(n);
        rte_pktmbuf_pkt_len(m) = n;
        counters_.echo_replies_sent.inc();
        return send(port, m);
    }
    drop(m, drop_reason::to_host);
}

void slow_path::handle_arp(rte_mbuf *m, uint16_t port, const packet_meta &meta, uint32_t now_ms) {
    arp_info arp;
    uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
    if (parse_arp(frame, rte_pktmbuf_data_len(m), meta.l3_offset, &arp) != drop_reason::none)
        return drop(m, drop_reason::arp_malformed);
    const port_config &pc = cfg_.dp->ports[port];
    const ip_addr sender = ip_addr::from_v4_be(arp.sender_ip_be);
    const ip_addr target = ip_addr::from_v4_be(arp.target_ip_be);
    const bool for_us = pc.has_v4 && target == pc.v4;
    const bool for_vip = !for_us && snap_ && snap_->is_vip(target, ip_family::v4);
    if (arp.sender_ip_be != 0 && !rte_is_zero_ether_addr(&arp.sender_mac))
        learn(sender, ip_family::v4, port, arp.sender_mac, now_ms, for_us);
    if (arp.op == 1 && (for_us || for_vip) && arp.sender_ip_be != arp.target_ip_be) {
        const uint32_t cap = rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m);
        const uint32_t n = build_arp_reply(frame, cap, pc.mac, arp.target_ip_be, arp, meta.has_vlan,
                                           meta.vlan_tci);
        if (n == 0) return drop(m, drop_reason::arp_malformed);
        rte_pktmbuf_data_len(m) = static_cast<uint16_t>(n);
        rte_pktmbuf_pkt_len(m) = n;
        counters_.arp_replies_sent.inc();
        return send(port, m);
    }
    // Answers to our requests and others' traffic: learnt (above) or ignored, never forwarded.
    rte_pktmbuf_free(m);
}

void slow_path::handle_icmpv6(rte_mbuf *m, uint16_t port, const packet_meta &meta,
                              uint32_t now_ms) {
    uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
    const uint8_t *l4 = frame + meta.l4_offset;
    // RFC 4861 7.1.1/7.1.2: hop limit 255, code 0, room for the target address.
    if (meta.ttl != 255 || meta.icmp_code != 0 || meta.l4_len < 24)
        return drop(m, drop_reason::to_host);
    const uint8_t *end = l4 + meta.l4_len;
    const ip_addr target = ip_addr::from_v6(l4 + 8);
    const port_config &pc = cfg_.dp->ports[port];
    const ip_addr src = meta.key.src;
    if (meta.icmp_type == wire::icmpv6_neighbor_advert) {
        const uint8_t *tlla = nd_option(l4 + 24, end, 2);
        rte_ether_addr mac;
        std::memcpy(mac.addr_bytes, tlla ? tlla : frame + 6, 6);
        learn(target, ip_family::v6, port, mac, now_ms, false);
        rte_pktmbuf_free(m);
        return;
    }
    // Neighbor Solicitation.
    const bool for_us =
        (pc.has_v6 && target == pc.v6) || (snap_ && snap_->is_vip(target, ip_family::v6));
    const uint8_t *slla = nd_option(l4 + 24, end, 1);
    rte_ether_addr src_mac;
    std::memcpy(src_mac.addr_bytes, slla ? slla : frame + 6, 6);
    if (for_us && slla) learn(src, ip_family::v6, port, src_mac, now_ms, true);
    if (!for_us) {
        rte_pktmbuf_free(m);
        return;
    }
    l2_header l2{};
    l2.dst = src_mac;
    l2.src = pc.mac;
    l2.vlan = meta.has_vlan;
    l2.vlan_tci = meta.vlan_tci;
    uint8_t target_copy[16], dst_copy[16];
    std::memcpy(target_copy, target.bytes, 16);
    std::memcpy(dst_copy, src.bytes, 16);
    const uint32_t cap = rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m);
    const uint32_t n = build_neighbor_advert(frame, cap, l2, target_copy, pc.mac, dst_copy);
    if (n == 0) return drop(m, drop_reason::to_host);
    rte_pktmbuf_data_len(m) = static_cast<uint16_t>(n);
    rte_pktmbuf_pkt_len(m) = n;
    counters_.nd_adverts_sent.inc();
    send(port, m);
}

/*
 * A neighbour answered or spoke to us. Learnt when `force` (it asked for one of
 * our addresses), when we are resolving it, or when it is known already; only
 * on-link addresses of the port it was heard on.
 */
void slow_path::learn(const ip_addr &ip, ip_family f, uint16_t port, const rte_ether_addr &mac,
                      uint32_t now_ms, bool force) {
    if (!cfg_.dp->routes->is_connected(ip, f, port)) return;
    pending_hop *p = find_pending(ip);
    neighbour_info old;
    const bool known = cfg_.neighbours->get(ip, &old);
    if (!force && !p && !known) return;
    if (known && old.state == neighbour_state::reachable && old.port == port &&
        rte_is_same_ether_addr(&old.mac, &mac) && now_ms - old.updated < 1000)
        return;  // nothing new: no version bump that would flush the workers' caches
    neighbour_info n{};
    n.ip = ip;
    n.family = f;
    n.state = neighbour_state::reachable;
    n.port = port;
    n.mac = mac;
    n.updated = now_ms;
    n.probes = 0;
    if (!cfg_.neighbours->update(n)) return;
    counters_.learnt.inc();
    if (!p) return;
    for (rte_mbuf *m : p->queue) {
        uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
        std::memcpy(frame, mac.addr_bytes, 6);
        counters_.resolved_packets.inc();
        send(p->port, m);
    }
    pending_.erase(pending_.begin() + (p - pending_.data()));
}

void slow_path::handle_resolve(const resolve_request &r, uint32_t now_ms) {
    counters_.received.inc();
    rte_ether_addr mac;
    if (r.port >= cfg_.dp->n_ports) return drop(r.m, drop_reason::no_neighbour);
    if (cfg_.neighbours->lookup(r.next_hop, &mac)) {
        std::memcpy(rte_pktmbuf_mtod(r.m, uint8_t *), mac.addr_bytes, 6);
        counters_.resolved_packets.inc();
        return send(r.port, r.m);
    }
    pending_hop *p = find_pending(r.next_hop);
    if (!p) {
        if (pending_.size() >= cfg_.max_pending) return drop(r.m, drop_reason::no_neighbour);
        pending_.push_back(pending_hop{r.next_hop, r.family, r.port, 0, now_ms, {}});
        p = &pending_.back();
        p->queue.reserve(cfg_.max_queued);
        probe(p->ip, p->family, p->port);
        p->probes = 1;
    }
    if (p->queue.size() >= cfg_.max_queued) {
        drop(p->queue.front(), drop_reason::no_neighbour);
        p->queue.erase(p->queue.begin());
    }
    p->queue.push_back(r.m);
}

void slow_path::probe(const ip_addr &ip, ip_family f, uint16_t port) {
    const port_config &pc = cfg_.dp->ports[port];
    if (f == ip_family::v4 ? !pc.has_v4 : !pc.has_v6) return;
    rte_mbuf *m = rte_pktmbuf_alloc(cfg_.pool);
    if (!m) {
        counters_.drops[static_cast<unsigned>(drop_reason::no_mbuf)].inc();
        return;
    }
    const bool ok = build_into_mbuf(m, [&](uint8_t *b, uint32_t cap) {
        return f == ip_family::v4
                   ? build_arp_request(b, cap, pc.mac, pc.v4.v4_be(), ip.v4_be())
                   : build_neighbor_solicit(b, cap, pc.mac, pc.v6.bytes, ip.bytes, false, 0);
    });
    if (!ok) {
        rte_pktmbuf_free(m);
        return;
    }
    counters_.probes_sent.inc();
    send(port, m);
}

void slow_path::announce(const ip_addr &addr, ip_family f) {
    for (uint16_t port = 0; port < cfg_.dp->n_ports; port++) {
        const port_config &pc = cfg_.dp->ports[port];
        if (f == ip_family::v4 ? !pc.has_v4 : !pc.has_v6) continue;
        rte_mbuf *m = rte_pktmbuf_alloc(cfg_.pool);
        if (!m) {
            counters_.drops[static_cast<unsigned>(drop_reason::no_mbuf)].inc();
            return;
        }
        const bool ok = build_into_mbuf(m, [&](uint8_t *b, uint32_t cap) {
            if (f == ip_family::v4)
                return build_gratuitous_arp(b, cap, pc.mac, addr.v4_be(), false, 0);
            l2_header l2{};
            l2.src = pc.mac;
            return build_neighbor_advert(b, cap, l2, addr.bytes, pc.mac, nullptr);
        });
        if (!ok) {
            rte_pktmbuf_free(m);
            continue;
        }
        counters_.announcements_sent.inc();
        send(port, m);
    }
}

void slow_path::check_vips() {
    snapshot_version_ = snap_->version;
    std::vector<std::pair<ip_addr, ip_family>> now;
    for (const snapshot_service &s : snap_->services) {
        if (!s.in_use) continue;
        auto vip = std::make_pair(s.key.vip, s.key.family);
        if (std::find(now.begin(), now.end(), vip) == now.end()) now.push_back(vip);
    }
    for (const auto &v : now)
        if (std::find(announced_.begin(), announced_.end(), v) == announced_.end())
            announce(v.first, v.second);
    announced_ = std::move(now);
}

void slow_path::run_timers(uint32_t now_ms) {
    // Unresolved next hops: probe again, give up after max_probes.
    for (size_t i = 0; i < pending_.size();) {
        pending_hop &p = pending_[i];
        if (now_ms - p.last_probe_ms < cfg_.probe_interval_ms) {
            i++;
            continue;
        }
        if (p.probes >= cfg_.max_probes) {
            for (rte_mbuf *m : p.queue) drop(m, drop_reason::no_neighbour);
            pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
            continue;
        }
        p.probes++;
        p.last_probe_ms = now_ms;
        probe(p.ip, p.family, p.port);
        i++;
    }
    // Aging: reachable -> stale after reachable_ms; stale neighbours are probed
    // every probe_interval_ms and forgotten after max_probes unanswered probes.
    std::vector<neighbour_info> changes;
    cfg_.neighbours->for_each([&](const neighbour_info &n) {
        const uint64_t age = now_ms - n.updated;
        if (n.state == neighbour_state::reachable && age >= cfg_.reachable_ms) {
            changes.push_back(n);
        } else if (n.state == neighbour_state::stale && age >= cfg_.probe_interval_ms) {
            changes.push_back(n);
        }
    });
    for (neighbour_info n : changes) {
        if (n.state == neighbour_state::stale && n.probes >= cfg_.max_probes) {
            cfg_.neighbours->forget(n.ip);
            counters_.forgotten.inc();
            continue;
        }
        n.state = neighbour_state::stale;
        n.probes++;
        n.updated = now_ms;
        cfg_.neighbours->update(n);
        probe(n.ip, n.family, n.port);
    }
}

}  // namespace nlb::dataplane
