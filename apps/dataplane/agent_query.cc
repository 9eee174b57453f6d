/* SPDX-License-Identifier: Apache-2.0 */
/* agent_state's read-only calls: GetStats, ListConnections and GetInfo's datapath fields. */
#include <arpa/inet.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "agent_state.h"

namespace nlb::dataplane {

namespace {

void add_drops(const counter *drops, v1::Counters *out) {
    for (size_t r = 1; r < drop_reason_count; r++) {
        uint64_t n = drops[r].get();
        if (n) (*out->mutable_drops())[drop_reason_name(static_cast<drop_reason>(r))] += n;
    }
}

void add_worker(const worker_counters &c, v1::Counters *out) {
    out->set_packets(out->packets() + c.rx_packets.get());
    out->set_bytes(out->bytes() + c.rx_bytes.get());
    out->set_new_connections(out->new_connections() + c.new_conns.get());
    out->set_persistence_hits(out->persistence_hits() + c.persist_hits.get());
    add_drops(c.drops, out);
}

v1::BackendState backend_state_to_proto(backend_state s) {
    return s == backend_state::draining ? v1::DRAINING : v1::ACTIVE;
}

/** What ListConnections needs of a snapshot, copied so the walk runs without the mutex. */
struct backend_view {
    uint64_t id = 0;
    ip_addr addr{};
    uint32_t generation = 0;
    uint16_t port_be = 0;
    ip_family family = ip_family::v4;
    bool in_use = false;
};

}  // namespace

agent_status agent_state::get_stats(const v1::GetStatsRequest &req,
                                    v1::GetStatsResponse *resp) const {
    std::vector<service_key> only;
    for (int i = 0; i < req.services_size(); i++) {
        service_key k;
        std::string error;
        if (!key_from_proto(req.services(i), "services[" + std::to_string(i) + "]", &k, &error))
            return {agent_code::invalid_argument, error};
        only.push_back(k);
    }

    std::lock_guard<std::mutex> lock(mu_);  // keeps the current snapshot alive (we are its writer)
    v1::Counters *total = resp->mutable_total();
    if (dp_.main_lcore_drops) add_drops(dp_.main_lcore_drops, total);
    for (size_t i = 0; i < dp_.workers.size(); i++) {
        const agent_worker &w = dp_.workers[i];
        if (!w.pipeline) continue;
        const conn_worker_stats cs = dp_.conns->stats(static_cast<unsigned>(i));
        add_worker(w.pipeline->counters(), total);
        total->set_evicted_connections(total->evicted_connections() + cs.evicted);
        if (req.per_lcore()) {
            v1::LcoreStats *ls = resp->add_lcores();
            ls->set_lcore(w.lcore);
            add_worker(w.pipeline->counters(), ls->mutable_counters());
            ls->mutable_counters()->set_active_connections(cs.live);
            ls->mutable_counters()->set_evicted_connections(cs.evicted);
            if (w.rounds && w.idle_rounds) {
                const uint64_t rounds = w.rounds->get(), idle = w.idle_rounds->get();
                ls->set_idle_polls(idle);
                ls->set_busy_polls(rounds > idle ? rounds - idle : 0);
            }
        }
    }
    total->set_active_connections(dp_.conns->size());

    for (const agent_port &p : dp_.ports) {
        v1::PortStats *ps = resp->add_ports();
        ps->set_index(p.index);
        ps->set_name(p.name);
        rte_eth_stats st{};
        if (p.ethdev && rte_eth_stats_get(p.port_id, &st) == 0) {
            ps->set_rx_packets(st.ipackets);
            ps->set_rx_bytes(st.ibytes);
            ps->set_tx_packets(st.opackets);
            ps->set_tx_bytes(st.obytes);
            ps->set_rx_missed(st.imissed);
            ps->set_rx_errors(st.ierrors);
            ps->set_tx_errors(st.oerrors);
            ps->set_rx_no_mbuf(st.rx_nombuf);
        }
    }

    const snapshot *snap = dp_.snapshots->current();
    if (snap) {
        for (const snapshot_service &svc : snap->services) {
            if (!svc.in_use) continue;
            if (!only.empty() && std::find(only.begin(), only.end(), svc.key) == only.end())
                continue;
            v1::ServiceStats *ss = resp->add_services();
            key_to_proto(svc.key, ss->mutable_key());
            auto rec = records_.find(svc.key);
            if (rec != records_.end()) ss->set_fail_open(rec->second.service.fail_open());
            v1::Counters *sc = ss->mutable_counters();
            uint64_t drops = 0, svc_active = 0;
            for (const agent_worker &w : dp_.workers) {
                if (!w.pipeline || svc.index >= w.pipeline->max_services()) continue;
                const service_counters &c = w.pipeline->service(svc.index);
                sc->set_packets(sc->packets() + c.packets.get());
                sc->set_bytes(sc->bytes() + c.bytes.get());
                sc->set_new_connections(sc->new_connections() + c.new_conns.get());
                drops += c.drops.get();
            }
            if (drops) (*sc->mutable_drops())["all_reasons"] = drops;
            for (uint32_t k = 0; k < svc.backend_count; k++) {
                const uint32_t slot = svc.slots[k];
                const snapshot_backend &b = snap->backends[slot];
                v1::BackendStats *bs = ss->add_backends();
                bs->set_id(b.id);
                bs->set_address(format_ip(b.addr, b.family));
                bs->set_port(ntohs(b.port_be));
                bs->set_state(backend_state_to_proto(b.state));
                v1::Counters *bc = bs->mutable_counters();
                uint64_t active = 0;
                for (const agent_worker &w : dp_.workers) {
                    if (!w.pipeline || slot >= w.pipeline->max_backends()) continue;
                    const backend_counters &c = w.pipeline->backend(slot);
                    bc->set_packets(bc->packets() + c.packets.get());
                    bc->set_bytes(bc->bytes() + c.bytes.get());
                    bc->set_new_connections(bc->new_connections() + c.new_conns.get());
                    active += w.pipeline->active(snap->ref_of(slot));
                }
                bc->set_active_connections(active);
                svc_active += active;
            }
            sc->set_active_connections(svc_active);
        }
    }
    resp->set_timestamp_unix_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
    return {};
}

agent_status agent_state::list_connections(const v1::ListConnectionsRequest &req,
                                           v1::ListConnectionsResponse *resp) const {
    uint32_t page_size = req.page_size() ? req.page_size() : 1000;
    if (page_size > 10000)
        return {agent_code::invalid_argument,
                "page_size: " + std::to_string(page_size) + " is out of range 1..10000"};
    uint64_t start = 0;
    if (!req.page_token().empty()) {
        char *end = nullptr;
        start = std::strtoull(req.page_token().c_str(), &end, 10);
        if (!end || *end != '\0' || req.page_token()[0] < '0' || req.page_token()[0] > '9')
            return {agent_code::invalid_argument,
                    "page_token: '" + req.page_token() + "' is not a token of this API"};
    }
    service_key only{};
    const bool by_service = req.has_service() && !req.service().vip().empty();
    if (by_service) {
        std::string error;
        if (!key_from_proto(req.service(), "service", &only, &error))
            return {agent_code::invalid_argument, error};
    }
    const uint64_t by_backend = req.backend_id();

    // A copy of what the walk needs, taken under the mutex; the walk itself runs without it
    // (it reads the table only, like any lister) so puts are never held up by a long listing.
    std::vector<service_key> services;
    std::vector<uint8_t> service_used;
    std::vector<backend_view> backends;
    uint32_t only_index = UINT32_MAX;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (const snapshot *snap = dp_.snapshots->current()) {
            for (const snapshot_service &s : snap->services) {
                services.push_back(s.key);
                service_used.push_back(s.in_use);
                if (by_service && s.in_use && s.key == only) only_index = s.index;
            }
            for (const snapshot_backend &b : snap->backends)
                backends.push_back({b.id, b.addr, b.generation, b.port_be, b.family, b.in_use});
        }
    }
    if (by_service && only_index == UINT32_MAX) return {};  // no such service: no connections

    const uint32_t now = dp_.now_ms();
    uint64_t ordinal = 0, next = 0;
    bool more = false;
    dp_.conns->for_each([&](const conn &c) {
        const uint64_t pos = ordinal++;
        if (pos < start || more || c.dead()) return;
        if (by_service && c.service() != only_index) return;
        const backend_ref ref = c.backend();
        const backend_view *bv = nullptr;
        if (ref.index < backends.size() && backends[ref.index].in_use &&
            backends[ref.index].generation == ref.generation)
            bv = &backends[ref.index];
        if (by_backend && (!bv || bv->id != by_backend)) return;
        if (static_cast<uint32_t>(resp->connections_size()) == page_size) {
            more = true;  // the next page starts at the first match not listed here
            next = pos;
            return;
        }
        const flow_key &k = c.orig_key();
        v1::Connection *out = resp->add_connections();
        out->set_client_address(format_ip(k.src, k.family));
        out->set_client_port(ntohs(k.sport));
        service_key sk{k.dst, k.dport, k.proto, k.family};
        if (c.service() < services.size() && service_used[c.service()]) sk = services[c.service()];
        key_to_proto(sk, out->mutable_service());
        if (bv) {
            out->set_backend_id(bv->id);
            out->set_backend_address(format_ip(bv->addr, bv->family));
            out->set_backend_port(ntohs(bv->port_be));
        }
        const tcp_state st = c.state();
        out->set_state(state_to_proto(st));
        const uint32_t idle_ms = now - c.last_seen_ms();
        const uint32_t timeout = dp_.conns->timeout_ms(st);
        out->set_idle_s(idle_ms / 1000);
        out->set_expires_in_s(idle_ms < timeout ? (timeout - idle_ms) / 1000 : 0);
        out->set_age_s((now - c.created_ms()) / 1000);
        out->set_lcore(c.owner() < dp_.workers.size() ? dp_.workers[c.owner()].lcore : c.owner());
    });
    if (more) resp->set_next_page_token(std::to_string(next));
    return {};
}

void agent_state::fill_info(v1::GetInfoResponse *resp) const {
    for (const agent_port &p : dp_.ports) {
        v1::PortInfo *pi = resp->add_ports();
        pi->set_index(p.index);
        pi->set_name(p.name);
        pi->set_device(p.device);
        pi->set_driver(p.driver);
        pi->set_mac(p.mac);
        pi->set_role(p.role);
        for (const std::string &a : p.addresses) pi->add_addresses(a);
        pi->set_mtu(p.mtu);
        pi->set_rx_queues(p.rx_queues);
        pi->set_tx_queues(p.tx_queues);
        pi->set_rss(p.rss);
        rte_eth_link link{};
        if (p.ethdev && rte_eth_link_get_nowait(p.port_id, &link) == 0) {
            pi->set_link_up(link.link_status == RTE_ETH_LINK_UP);
            if (link.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN)
                pi->set_link_speed_mbps(link.link_speed);
        }
    }
    for (const agent_worker &w : dp_.workers) resp->add_worker_lcores(w.lcore);
    resp->set_conn_table_capacity(dp_.conns->capacity());
}

}  // namespace nlb::dataplane
