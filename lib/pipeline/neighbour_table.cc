/* SPDX-License-Identifier: Apache-2.0 */
#include "pipeline/neighbour_table.h"

#include <rte_hash_crc.h>

#include <cstring>

namespace nlb {

static_assert(sizeof(neighbour_info) <= 64, "neighbour record must fit a cache line");

neighbour_table::neighbour_table(uint32_t capacity) {
    uint32_t n = 16;
    while (n < capacity) n <<= 1;
    slots_ = std::make_unique<slot[]>(n);
    mask_ = n - 1;
}

uint32_t neighbour_table::index_of(const ip_addr &ip) const {
    return rte_hash_crc(ip.bytes, sizeof(ip.bytes), 0x6e6c62u) & mask_;
}

bool neighbour_table::read_slot(uint32_t i, neighbour_info *out) const {
    const slot &s = slots_[i];
    for (;;) {
        uint32_t before = s.seq.load(std::memory_order_acquire);
        if (before & 1u) continue;
        uint64_t buf[info_words];
        for (unsigned w = 0; w < info_words; w++) buf[w] = s.words[w].load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (s.seq.load(std::memory_order_relaxed) == before) {
            std::memcpy(out, buf, sizeof(*out));
            return true;
        }
    }
}

void neighbour_table::write_slot(uint32_t i, const neighbour_info &info) {
    slot &s = slots_[i];
    uint64_t buf[info_words] = {};
    std::memcpy(buf, &info, sizeof(info));
    uint32_t seq = s.seq.load(std::memory_order_relaxed);
    s.seq.store(seq + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    for (unsigned w = 0; w < info_words; w++) s.words[w].store(buf[w], std::memory_order_relaxed);
    s.seq.store(seq + 2, std::memory_order_release);
    version_.fetch_add(1, std::memory_order_release);
}

bool neighbour_table::get(const ip_addr &ip, neighbour_info *out) const {
    uint32_t i = index_of(ip);
    for (uint32_t probe = 0; probe <= mask_; probe++, i = (i + 1) & mask_) {
        neighbour_info cur;
        read_slot(i, &cur);
        if (cur.state == neighbour_state::empty) return false;
        if (cur.state != neighbour_state::forgotten && cur.ip == ip) {
            *out = cur;
            return true;
        }
    }
    return false;
}

bool neighbour_table::lookup(const ip_addr &ip, rte_ether_addr *mac) const {
    neighbour_info cur;
    if (!get(ip, &cur)) return false;
    if (cur.state != neighbour_state::reachable && cur.state != neighbour_state::stale)
        return false;
    *mac = cur.mac;
    return true;
}

bool neighbour_table::update(const neighbour_info &info) {
    uint32_t i = index_of(info.ip);
    int64_t reuse = -1;
    for (uint32_t probe = 0; probe <= mask_; probe++, i = (i + 1) & mask_) {
        neighbour_info cur;
        read_slot(i, &cur);
        if (cur.state == neighbour_state::empty) break;
        if (cur.state == neighbour_state::forgotten) {
            if (reuse < 0) reuse = i;
            continue;
        }
        if (cur.ip == info.ip) {
            write_slot(i, info);
            return true;
        }
    }
    if (reuse < 0) {
        if (used_ + 1 > (mask_ + 1) / 4 * 3) return false;
        reuse = i;
        used_++;
    }
    write_slot(static_cast<uint32_t>(reuse), info);
    live_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void neighbour_table::forget(const ip_addr &ip) {
    uint32_t i = index_of(ip);
    for (uint32_t probe = 0; probe <= mask_; probe++, i = (i + 1) & mask_) {
        neighbour_info cur;
        read_slot(i, &cur);
        if (cur.state == neighbour_state::empty) return;
        if (cur.state != neighbour_state::forgotten && cur.ip == ip) {
            cur.state = neighbour_state::forgotten;
            write_slot(i, cur);
            live_.fetch_sub(1, std::memory_order_relaxed);
            return;
        }
    }
}

}  // namespace nlb
