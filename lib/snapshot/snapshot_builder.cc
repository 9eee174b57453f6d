/* SPDX-License-Identifier: Apache-2.0 */
#include "snapshot/snapshot_builder.h"

#include <arpa/inet.h>
#include <algorithm>

namespace nlb {

/* A service's scheduler data depends only on its backends' ids and effective
 * weights (0 when draining), in list order, so it is shared with the previous
 * snapshot while those are unchanged: a snapshot that only moves one service
 * does not recompute a thousand Maglev tables. */
struct service_sched_data {
    sched_kind kind;
    uint32_t maglev_size;
    std::vector<uint64_t> ids;
    std::vector<uint8_t> weights;
    std::vector<uint32_t> wrr;
    maglev_table maglev;

    bool same_inputs(sched_kind k, uint32_t size, const std::vector<uint64_t> &i,
                     const std::vector<uint8_t> &w) const {
        return kind == k && maglev_size == size && ids == i && weights == w;
    }
};

size_t snapshot::memory_bytes() const {
    size_t n = sizeof(snapshot) + services.capacity() * sizeof(snapshot_service) +
               backends.capacity() * sizeof(snapshot_backend) +
               service_table_.capacity() * sizeof(service_entry) +
               vip_table_.capacity() * sizeof(vip_entry) +
               slot_lists_.capacity() * sizeof(uint32_t) +
               sched_data_.capacity() * sizeof(sched_data_[0]);
    for (const auto &d : sched_data_) {
        if (!d) continue;
        n += sizeof(service_sched_data) + d->ids.capacity() * sizeof(uint64_t) +
             d->weights.capacity() + d->wrr.capacity() * sizeof(uint32_t) +
             static_cast<size_t>(d->maglev.size()) * sizeof(uint32_t) +
             d->maglev.keys().size() * sizeof(uint64_t);
    }
    return n;
}

namespace {

const char *proto_name(uint8_t proto) {
    return proto == ipproto_tcp ? "tcp" : proto == ipproto_udp ? "udp" : "proto?";
}

std::string describe(const service_key &k) {
    std::string ip = format_ip(k.vip, k.family);
    if (k.family == ip_family::v6) ip = "[" + ip + "]";
    return "service " + ip + ":" + std::to_string(ntohs(k.port_be)) + "/" + proto_name(k.proto);
}

bool family_valid(ip_family f) {
    return f == ip_family::v4 || f == ip_family::v6;
}

/** The address is a plausible unicast address of its family (not all-zero; v4 has 12 zero bytes).
 */
bool address_fits(const ip_addr &a, ip_family f) {
    static const uint8_t zero[16] = {};
    if (f == ip_family::v4) return std::memcmp(a.bytes + 4, zero, 12) == 0 && a.v4_be() != 0;
    return std::memcmp(a.bytes, zero, 16) != 0;
}

uint32_t round_up_pow2(uint32_t n) {
    uint32_t p = 16;
    while (p < n) p <<= 1;
    return p;
}

}  // namespace

std::string validate_service(const service_spec &svc, const snapshot_limits &limits) {
    const service_key &k = svc.key;
    if (!family_valid(k.family)) return "service: unknown address family";
    std::string what = describe(k);
    if (!address_fits(k.vip, k.family)) return what + ": VIP is not a valid address of its family";
    if (k.port_be == 0) return what + ": port must be 1-65535";
    if (k.proto != ipproto_tcp && k.proto != ipproto_udp)
        return what + ": protocol must be tcp or udp";
    if (svc.mode != fwd_mode::nat && svc.mode != fwd_mode::dsr && svc.mode != fwd_mode::tunnel)
        return what + ": unknown forwarding mode";
    if (svc.sched != sched_kind::wrr && svc.sched != sched_kind::wlc &&
        svc.sched != sched_kind::source_ip)
        return what + ": unknown scheduler";
    if (svc.persistence_timeout_s > 3600) return what + ": persistence timeout must be 0-3600 s";
    uint32_t msize = svc.maglev_size ? svc.maglev_size : limits.maglev_size;
    if (svc.sched == sched_kind::source_ip && !maglev_table::valid_size(msize))
        return what + ": Maglev table size " + std::to_string(msize) + " is not an allowed prime";
    for (size_t i = 0; i < svc.backends.size(); i++) {
        const backend_spec &b = svc.backends[i];
        std::string bwhat = what + ": backend " + std::to_string(b.id);
        if (!family_valid(b.family)) return bwhat + ": unknown address family";
        if (!address_fits(b.addr, b.family)) return bwhat + ": not a valid address of its family";
        if (b.port_be == 0) return bwhat + ": port must be 1-65535";
        if (b.weight > max_backend_weight) return bwhat + ": weight must be 0-100";
        if (b.state != backend_state::active && b.state != backend_state::draining)
            return bwhat + ": unknown state";
        if (svc.mode == fwd_mode::nat && b.family != k.family)
            return bwhat + ": nat mode needs the backend in the VIP's address family";
        // dsr and tunnel deliver the client's packet unchanged: the backend
        // must listen on the VIP's port, in the VIP's family.
        if (svc.mode != fwd_mode::nat && (b.family != k.family || b.port_be != k.port_be))
            return bwhat + ": " + fwd_mode_name(svc.mode) +
                   " mode needs the VIP's address family and port";
        for (size_t j = 0; j < i; j++) {
            const backend_spec &o = svc.backends[j];
            if (o.id == b.id) return bwhat + ": duplicate backend id";
            if (o.addr == b.addr && o.family == b.family && o.port_be == b.port_be)
                return bwhat + ": same address and port as backend " + std::to_string(o.id);
        }
    }
    return {};
}

snapshot_build snapshot_builder::build(std::span<const service_spec> desired,
                                       const snapshot *prev) const {
    snapshot_build out;
    for (const auto &svc : desired) {
        out.error = validate_service(svc, limits_);
        if (!out.error.empty()) return out;
    }
    if (desired.size() > limits_.max_services) {
        out.error = "too many services: " + std::to_string(desired.size()) + " > " +
                    std::to_string(limits_.max_services);
        return out;
    }

    auto snap = std::make_unique<snapshot>();
    snap->version = prev ? prev->version + 1 : 1;

    // Open-addressing table of service keys (also catches duplicates).
    uint32_t table_size = round_up_pow2(static_cast<uint32_t>(desired.size()) * 2);
    snap->service_table_.assign(table_size, {service_key{}, UINT32_MAX});
    snap->service_mask_ = table_size - 1;

    // 1. Service indices: a key the previous snapshot had keeps its index.
    std::vector<uint32_t> index_of(desired.size(), UINT32_MAX);
    std::vector<const snapshot_service *> prev_of(desired.size(), nullptr);
    uint32_t service_slots = prev ? static_cast<uint32_t>(prev->services.size()) : 0;
    std::vector<bool> index_taken(std::max<uint32_t>(service_slots, limits_.max_services), false);
    for (size_t i = 0; i < desired.size(); i++) {
        const service_key &k = desired[i].key;
        uint32_t h = snapshot::hash_key(k.vip, k.port_be, k.proto, k.family) & snap->service_mask_;
        while (snap->service_table_[h].service != UINT32_MAX) {
            if (snap->service_table_[h].key == k) {
                out.error = describe(k) + ": duplicate service";
                return out;
            }
            h = (h + 1) & snap->service_mask_;
        }
        snap->service_table_[h] = {k, static_cast<uint32_t>(i)};  // position for now
        if (prev) {
            const snapshot_service *p = prev->find_service(k);
            if (p && p->index < limits_.max_services) {
                prev_of[i] = p;
                index_of[i] = p->index;
                index_taken[p->index] = true;
            }
        }
    }
    // services[] never shrinks, like backends[]: a connection may hold the
    // index of a service that is gone and must find a hole (in_use == false),
    // not run off the end.
    uint32_t next_free = 0, services_size = service_slots;
    for (size_t i = 0; i < desired.size(); i++) {
        if (index_of[i] == UINT32_MAX) {
            while (index_taken[next_free]) next_free++;  // max_services >= desired.size()
            index_of[i] = next_free;
            index_taken[next_free] = true;
        }
        services_size = std::max(services_size, index_of[i] + 1);
    }
    for (auto &e : snap->service_table_)
        if (e.service != UINT32_MAX) e.service = index_of[e.service];

    // 2. Backend slots: the same backend of the same service keeps its slot.
    const uint32_t prev_slots = prev ? static_cast<uint32_t>(prev->backends.size()) : 0;
    std::vector<std::vector<uint32_t>> slots_of(desired.size());
    std::vector<bool> slot_kept(prev_slots, false);
    size_t total_backends = 0;
    for (size_t i = 0; i < desired.size(); i++) {
        const service_spec &svc = desired[i];
        slots_of[i].assign(svc.backends.size(), UINT32_MAX);
        total_backends += svc.backends.size();
        const snapshot_service *p = prev_of[i];
        if (!p) continue;
        for (size_t j = 0; j < svc.backends.size(); j++) {
            const backend_spec &b = svc.backends[j];
            for (uint32_t k = 0; k < p->backend_count; k++) {
                uint32_t s = p->slots[k];
                const snapshot_backend &pb = prev->backends[s];
                if (pb.id == b.id && pb.addr == b.addr && pb.family == b.family &&
                    pb.port_be == b.port_be && !slot_kept[s]) {
                    slots_of[i][j] = s;
                    slot_kept[s] = true;
                    break;
                }
            }
        }
    }
    if (total_backends > limits_.max_backends) {
        out.error = "too many backends: " + std::to_string(total_backends) + " > " +
                    std::to_string(limits_.max_backends);
        return out;
    }
    // Generations: kept slots keep theirs; every other slot that was in use,
    // and every slot given to a new backend, moves on by one.
    uint32_t slot_count = prev_slots;
    std::vector<snapshot_backend> &backends = snap->backends;
    backends.resize(prev_slots);
    for (uint32_t s = 0; s < prev_slots; s++) {
        backends[s] = prev->backends[s];
        if (!slot_kept[s]) {
            if (backends[s].in_use) backends[s].generation++;
            backends[s].in_use = false;
        }
    }
    // New backends take the lowest free slots first. A slot freed in this
    // same build may be reused at once: its generation moves on again, so
    // references to the old backend stay invalid.
    std::vector<uint32_t> free_slots;
    for (uint32_t s = 0; s < prev_slots; s++)
        if (!slot_kept[s]) free_slots.push_back(s);
    size_t next_free_slot = 0;
    for (size_t i = 0; i < desired.size(); i++) {
        for (size_t j = 0; j < desired[i].backends.size(); j++) {
            if (slots_of[i][j] != UINT32_MAX) continue;
            uint32_t s;
            if (next_free_slot < free_slots.size()) {
                s = free_slots[next_free_slot++];
            } else {
                s = slot_count++;
                backends.push_back(snapshot_backend{});
            }
            backends[s].generation++;
            slots_of[i][j] = s;
        }
    }
    if (slot_count > limits_.max_backends) {
        out.error = "backend slots exhausted: " + std::to_string(slot_count) + " > " +
                    std::to_string(limits_.max_backends);
        return out;
    }

    // 3. Fill services, backends and the scheduler data.
    snap->services.assign(services_size, snapshot_service{});
    for (uint32_t s = 0; s < services_size; s++) snap->services[s].index = s;
    snap->sched_data_.assign(services_size, nullptr);
    snap->slot_lists_.reserve(total_backends);
    for (size_t i = 0; i < desired.size(); i++)
        snap->slot_lists_.insert(snap->slot_lists_.end(), slots_of[i].begin(), slots_of[i].end());
    size_t list_offset = 0;
    std::vector<uint64_t> ids;
    std::vector<uint8_t> weights;
    for (size_t i = 0; i < desired.size(); i++) {
        const service_spec &spec = desired[i];
        uint32_t idx = index_of[i];
        snapshot_service &svc = snap->services[idx];
        svc.key = spec.key;
        svc.in_use = true;
        svc.mode = spec.mode;
        svc.sched = spec.sched;
        svc.persistence_timeout_s = spec.persistence_timeout_s;
        svc.version = spec.version;
        svc.slots = snap->slot_lists_.data() + list_offset;
        svc.backend_count = static_cast<uint32_t>(spec.backends.size());
        list_offset += spec.backends.size();

        ids.clear();
        weights.clear();
        for (size_t j = 0; j < spec.backends.size(); j++) {
            const backend_spec &b = spec.backends[j];
            snapshot_backend &sb = backends[slots_of[i][j]];
            sb.id = b.id;
            sb.addr = b.addr;
            sb.family = b.family;
            sb.port_be = b.port_be;
            sb.weight = b.weight;
            sb.state = b.state;
            sb.service = idx;
            sb.in_use = true;
            ids.push_back(b.id);
            weights.push_back(b.state == backend_state::active ? b.weight : 0);
        }

        uint32_t msize = spec.sched == sched_kind::source_ip
                             ? (spec.maglev_size ? spec.maglev_size : limits_.maglev_size)
                             : 0;
        std::shared_ptr<const service_sched_data> data;
        const service_sched_data *old =
            prev_of[i] ? prev->sched_data_[prev_of[i]->index].get() : nullptr;
        if (old && old->same_inputs(spec.sched, msize, ids, weights)) {
            data = prev->sched_data_[prev_of[i]->index];
        } else if (spec.sched != sched_kind::wlc) {
            auto fresh = std::make_shared<service_sched_data>();
            fresh->kind = spec.sched;
            fresh->maglev_size = msize;
            fresh->ids = ids;
            fresh->weights = weights;
            if (spec.sched == sched_kind::wrr) {
                fresh->wrr = wrr_sequence(weights);
            } else {
                std::vector<maglev_backend> mb(ids.size());
                for (size_t j = 0; j < ids.size(); j++) mb[j] = {ids[j], weights[j]};
                std::vector<maglev_change> delta;
                bool had = old && old->kind == sched_kind::source_ip && old->maglev_size == msize;
                fresh->maglev = maglev_table::build(mb, msize, had ? &old->maglev : nullptr,
                                                    had ? &delta : nullptr);
                out.maglev_tables_built++;
                out.maglev_positions_changed += had ? delta.size() : msize;
            }
            data = std::move(fresh);
        }
        if (data) {
            svc.wrr = data->wrr.data();
            svc.wrr_length = static_cast<uint32_t>(data->wrr.size());
            svc.maglev = spec.sched == sched_kind::source_ip ? &data->maglev : nullptr;
        }
        snap->sched_data_[idx] = std::move(data);
    }
    snap->live_services_ = static_cast<uint32_t>(desired.size());
    snap->live_backends_ = static_cast<uint32_t>(total_backends);

    // 4. The set of VIP addresses (ARP/ND answers).
    uint32_t vip_size = round_up_pow2(static_cast<uint32_t>(desired.size()) * 2);
    snap->vip_table_.assign(vip_size, snapshot::vip_entry{});
    snap->vip_mask_ = vip_size - 1;
    for (const auto &spec : desired) {
        uint32_t h = snapshot::hash_addr(spec.key.vip, spec.key.family) & snap->vip_mask_;
        for (;;) {
            auto &e = snap->vip_table_[h];
            if (!e.used) {
                e = {spec.key.vip, spec.key.family, true};
                break;
            }
            if (e.addr == spec.key.vip && e.family == spec.key.family) break;
            h = (h + 1) & snap->vip_mask_;
        }
    }
    out.snap = std::move(snap);
    return out;
}

}  // namespace nlb
