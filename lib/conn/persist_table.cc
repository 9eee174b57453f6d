/* SPDX-License-Identifier: Apache-2.0 */
#include "conn/persist_table.h"

#include "conn/mapped_memory.h"

namespace nlb {

persist_table::~persist_table() { unmap_memory(slots_, bytes_); }

std::unique_ptr<persist_table> persist_table::create(uint64_t capacity, std::string *error,
                                                     bool prefault) {
    constexpr uint64_t max_capacity = uint64_t{1} << 31;
    if (capacity == 0 || capacity > max_capacity) {
        *error = "persistence capacity must be between 1 and " + std::to_string(max_capacity);
        return nullptr;
    }
    std::unique_ptr<persist_table> tab(new persist_table());
    tab->capacity_ = capacity;
    tab->n_slots_ = std::max<uint64_t>(capacity + capacity / 3, probe_window);
    tab->bytes_ = tab->n_slots_ * sizeof(slot);
    std::string why;
    void *p = map_memory(tab->bytes_, prefault, &why);
    if (!p) {
        *error = "cannot map " + std::to_string(tab->bytes_) + " bytes of persistence slots: " + why;
        tab->bytes_ = 0;
        return nullptr;
    }
    tab->slots_ = static_cast<slot *>(p);  // zero pages: every slot empty
    return tab;
}

bool persist_table::read_slot(const slot &s, persist_entry *out) {
    for (int tries = 0; tries < 4; tries++) {
        uint32_t before = s.seq.load(std::memory_order_acquire);
        if (before & 1) continue;
        out->last_seen_ms = s.last_seen.load(std::memory_order_acquire);
        out->timeout_ms = s.timeout_ms.load(std::memory_order_acquire);
        out->service = s.service.load(std::memory_order_acquire);
        out->backend.index = s.backend_index.load(std::memory_order_acquire);
        out->backend.generation = s.backend_generation.load(std::memory_order_acquire);
        uint32_t ip[4];
        for (int i = 0; i < 4; i++) ip[i] = s.client[i].load(std::memory_order_acquire);
        std::memcpy(out->client.bytes, ip, sizeof(ip));
        if (s.seq.load(std::memory_order_relaxed) == before) return true;
    }
    return false;
}

persist_table::slot *persist_table::find(const ip_addr &client, uint32_t service, uint32_t h,
                                         uint32_t now_ms, persist_entry *out) const {
    uint64_t i = home_of(h);
    for (unsigned n = 0; n < probe_window; n++, i = next_of(i)) {
        if (read_slot(slots_[i], out) && matches(*out, client, service) && live(*out, now_ms))
            return &slots_[i];
    }
    return nullptr;
}

bool persist_table::lookup(const ip_addr &client, uint32_t service, uint32_t h, uint32_t now_ms,
                           backend_ref *out) const {
    persist_entry e;
    if (!find(client, service, h, now_ms, &e)) return false;
    *out = e.backend;
    return true;
}

bool persist_table::touch(const ip_addr &client, uint32_t service, uint32_t h, uint32_t now_ms) {
    persist_entry e;
    slot *s = find(client, service, h, now_ms, &e);
    if (!s) return false;
    if (e.last_seen_ms != now_ms) s->last_seen.store(now_ms, std::memory_order_relaxed);
    return true;
}

bool persist_table::update(const ip_addr &client, uint32_t service, uint32_t h,
                           backend_ref backend, uint32_t timeout_s, uint32_t now_ms) {
    if (timeout_s == 0 || timeout_s > INT32_MAX / 1000) return false;
    /* The key's own slot if it has one in the window, else the first free or expired one. */
    uint64_t target = n_slots_, candidate = n_slots_;
    uint64_t i = home_of(h);
    for (unsigned n = 0; n < probe_window; n++, i = next_of(i)) {
        persist_entry e;
        if (!read_slot(slots_[i], &e)) continue;
        if (matches(e, client, service)) {
            target = i;
            break;
        }
        if (candidate == n_slots_ && !live(e, now_ms)) candidate = i;
    }
    if (target == n_slots_) target = candidate;
    if (target == n_slots_) return false;

    slot &s = slots_[target];
    uint32_t seq = s.seq.load(std::memory_order_relaxed);
    if ((seq & 1) || !s.seq.compare_exchange_strong(seq, seq + 1, std::memory_order_acquire,
                                                    std::memory_order_relaxed))
        return false;  // another lcore is writing it: give up rather than wait
    /* Re-check under the claim: another writer may have taken the slot meanwhile. */
    persist_entry cur;
    cur.timeout_ms = s.timeout_ms.load(std::memory_order_relaxed);
    cur.last_seen_ms = s.last_seen.load(std::memory_order_relaxed);
    cur.service = s.service.load(std::memory_order_relaxed);
    uint32_t ip[4];
    for (int k = 0; k < 4; k++) ip[k] = s.client[k].load(std::memory_order_relaxed);
    std::memcpy(cur.client.bytes, ip, sizeof(ip));
    bool ok = matches(cur, client, service) || !live(cur, now_ms);
    if (ok) {
        std::memcpy(ip, client.bytes, sizeof(ip));
        for (int k = 0; k < 4; k++) s.client[k].store(ip[k], std::memory_order_release);
        s.service.store(service, std::memory_order_release);
        s.backend_index.store(backend.index, std::memory_order_release);
        s.backend_generation.store(backend.generation, std::memory_order_release);
        s.last_seen.store(now_ms, std::memory_order_release);
        s.timeout_ms.store(timeout_s * 1000, std::memory_order_release);
    }
    s.seq.store(seq + 2, std::memory_order_release);
    return ok;
}

bool persist_table::erase(const ip_addr &client, uint32_t service, uint32_t h) {
    uint64_t i = home_of(h);
    bool erased = false;
    for (unsigned n = 0; n < probe_window; n++, i = next_of(i)) {
        persist_entry e;
        if (!read_slot(slots_[i], &e) || !matches(e, client, service)) continue;
        slot &s = slots_[i];
        uint32_t seq = s.seq.load(std::memory_order_relaxed);
        if ((seq & 1) || !s.seq.compare_exchange_strong(seq, seq + 1, std::memory_order_acquire,
                                                        std::memory_order_relaxed))
            continue;
        uint32_t ip[4];
        for (int k = 0; k < 4; k++) ip[k] = s.client[k].load(std::memory_order_relaxed);
        if (s.service.load(std::memory_order_relaxed) == service &&
            std::memcmp(ip, client.bytes, sizeof(ip)) == 0) {
            s.timeout_ms.store(0, std::memory_order_release);
            erased = true;
        }
        s.seq.store(seq + 2, std::memory_order_release);
    }
    return erased;
}

uint64_t persist_table::count_live(uint32_t now_ms) const {
    uint64_t n = 0;
    for_each(now_ms, [&](const persist_entry &) { n++; });
    return n;
}

}  // namespace nlb
