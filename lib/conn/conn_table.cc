/* SPDX-License-Identifier: Apache-2.0 */
#include "conn/conn_table.h"

#include <sys/mman.h>

#include <new>

#include "conn/mapped_memory.h"

namespace nlb {

namespace {

constexpr uint8_t st(tcp_state s) { return static_cast<uint8_t>(s); }

/* Bumps a counter that only one thread writes; others may read it. */
inline void bump(std::atomic<uint64_t> &a, int64_t d = 1) {
    a.store(a.load(std::memory_order_relaxed) + static_cast<uint64_t>(d),
            std::memory_order_relaxed);
}

}  // namespace

struct alignas(cache_line) conn_table::worker_state {
    uint32_t free_head = nil;  // reusable entries (grace period over)
    uint32_t fresh_pos = 0;    // never-used entries of the newest chunk: [fresh_pos, fresh_end)
    uint32_t fresh_end = 0;
    uint32_t chunk_head = nil;  // chunks owned, linked through chunk_next_
    uint32_t chunk_tail = nil;
    uint32_t sweep_chunk = nil;
    uint32_t sweep_pos = 0;
    uint32_t evict_chunk = nil;
    uint32_t evict_pos = 0;
    uint32_t open_head = nil;  // retired since the last close_batch()
    uint32_t open_tail = nil;
    uint32_t open_count = 0;
    uint32_t reclaim_skip = 0;  // allocations to wait after a grace period was not over
    unsigned limbo_first = 0;
    unsigned limbo_count = 0;
    limbo_batch limbo[limbo_batches];

    std::atomic<uint64_t> live{0}, inserted{0}, expired{0}, killed{0}, evicted{0}, full{0},
        conflicts{0};
    /* Written by any lcore whose packet moves a connection out of syn_recv. */
    alignas(cache_line) std::atomic<int64_t> embryonic{0};
};

conn_table::~conn_table() {
    unmap_memory(entries_, entries_bytes_);
    unmap_memory(buckets_, buckets_bytes_);
}

std::unique_ptr<conn_table> conn_table::create(const conn_table_config &cfg, std::string *error) {
    constexpr uint64_t max_capacity = (uint64_t{1} << 31) - 2;
    constexpr uint32_t max_timeout_s = INT32_MAX / 1000;
    if (cfg.capacity == 0 || cfg.capacity > max_capacity) {
        *error = "capacity must be between 1 and " + std::to_string(max_capacity);
        return nullptr;
    }
    if (cfg.n_workers == 0 || cfg.n_workers > max_workers || cfg.n_workers > 255) {
        *error = "n_workers must be between 1 and " + std::to_string(std::min(max_workers, 255u));
        return nullptr;
    }
    const conn_timeouts &t = cfg.timeouts;
    for (uint32_t s : {t.syn_recv_s, t.established_s, t.fin_wait_s, t.time_wait_s, t.close_s,
                       t.udp_s}) {
        if (s == 0 || s > max_timeout_s) {
            *error = "timeouts must be between 1 and " + std::to_string(max_timeout_s) + " s";
            return nullptr;
        }
    }

    std::unique_ptr<conn_table> tab(new conn_table());
    tab->capacity_ = cfg.capacity;
    tab->n_workers_ = cfg.n_workers;
    tab->rcu_ = cfg.rcu;
    tab->timeout_ms_[st(tcp_state::syn_recv)] = t.syn_recv_s * 1000;
    tab->timeout_ms_[st(tcp_state::established)] = t.established_s * 1000;
    tab->timeout_ms_[st(tcp_state::fin_wait)] = t.fin_wait_s * 1000;
    tab->timeout_ms_[st(tcp_state::time_wait)] = t.time_wait_s * 1000;
    tab->timeout_ms_[st(tcp_state::close)] = t.close_s * 1000;
    tab->timeout_ms_[st(tcp_state::udp)] = t.udp_s * 1000;

    /* Two keys per connection, 10 slots per bucket, at most 85 % of slots used. */
    tab->n_buckets_ = std::max<uint64_t>(2, (cfg.capacity * 2 * 100 + 849) / 850);
    uint32_t chunk = 1024;
    while (chunk > 1 && cfg.capacity / chunk < uint64_t{cfg.n_workers} * 16) chunk /= 2;
    tab->chunk_entries_ = chunk;
    tab->n_chunks_ = static_cast<uint32_t>((cfg.capacity + chunk - 1) / chunk);

    tab->entries_bytes_ = cfg.capacity * sizeof(conn);
    tab->buckets_bytes_ = tab->n_buckets_ * sizeof(bucket);
    std::string why;
    void *e = map_memory(tab->entries_bytes_, cfg.prefault, &why);
    if (!e) {
        *error = "cannot map " + std::to_string(tab->entries_bytes_) + " bytes of entries: " + why;
        tab->entries_bytes_ = 0;
        tab->buckets_bytes_ = 0;
        return nullptr;
    }
    tab->entries_ = static_cast<conn *>(e);
    void *b = map_memory(tab->buckets_bytes_, cfg.prefault, &why);
    if (!b) {
        *error = "cannot map " + std::to_string(tab->buckets_bytes_) + " bytes of buckets: " + why;
        tab->buckets_bytes_ = 0;  // the destructor unmaps the entries
        return nullptr;
    }
    tab->buckets_ = static_cast<bucket *>(b);  // zero pages: every slot empty, no spills
    tab->chunk_next_.reset(new uint32_t[tab->n_chunks_]);
    tab->workers_.reset(new worker_state[cfg.n_workers]);
    return tab;
}

uint64_t conn_table::used_entries() const {
    uint64_t chunks = std::min<uint64_t>(next_chunk_.load(std::memory_order_acquire), n_chunks_);
    return std::min<uint64_t>(chunks * chunk_entries_, capacity_);
}

bool conn_table::precheck(unsigned worker, const flow_key &orig, uint32_t orig_hash,
                          const flow_key *reply, uint32_t reply_hash, conn **existing,
                          drop_reason *why) {
    conn_dir d;
    conn *c = lookup(orig, orig_hash, &d);
    if (c && d == conn_dir::original) {
        *existing = c;
        *why = drop_reason::none;
        return false;
    }
    if (!c && reply) c = lookup(*reply, reply_hash, nullptr);
    if (c) {
        bump(workers_[worker].conflicts);
        *existing = nullptr;
        *why = drop_reason::conn_conflict;
        return false;
    }
    return true;
}

uint32_t conn_table::pop_free(worker_state &w) {
    uint32_t idx = w.free_head;
    if (idx != nil) w.free_head = entries_[idx].next_;
    return idx;
}

uint32_t conn_table::alloc_entry(unsigned worker) {
    worker_state &w = workers_[worker];
    /* Recycled entries first (warm in cache); a grace period that was not
     * over is re-checked only every few allocations: the check reads every
     * reader's counter line. */
    if (w.free_head == nil && w.limbo_count) {
        if (w.reclaim_skip)
            w.reclaim_skip--;
        else
            reclaim(worker);
    }
    uint32_t idx = pop_free(w);
    if (idx != nil) return idx;
    if (w.fresh_pos < w.fresh_end) {
        idx = w.fresh_pos++;
        new (&entries_[idx]) conn();
        return idx;
    }
    uint32_t c = next_chunk_.load(std::memory_order_relaxed);
    while (c < n_chunks_) {
        if (!next_chunk_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel,
                                               std::memory_order_relaxed))
            continue;
        chunk_next_[c] = nil;
        if (w.chunk_tail == nil)
            w.chunk_head = c;
        else
            chunk_next_[w.chunk_tail] = c;
        w.chunk_tail = c;
        uint32_t begin = c * chunk_entries_;
        w.fresh_pos = begin + 1;
        w.fresh_end = static_cast<uint32_t>(
            std::min<uint64_t>(uint64_t{begin} + chunk_entries_, capacity_));
        new (&entries_[begin]) conn();
        return begin;
    }
    /* Nothing else left: close the open batch and try the grace periods now. */
    if (w.open_head != nil) close_batch(worker);
    if (w.limbo_count) reclaim(worker);
    return pop_free(w);
}

void conn_table::link(uint32_t h, uint32_t ref) {
    uint64_t b = bucket_of(h);
    for (uint64_t n = 0; n < n_buckets_; n++) {
        bucket &bk = buckets_[b];
        for (unsigned i = 0; i < slots_per_bucket; i++) {
            uint32_t cur = bk.refs[i].load(std::memory_order_relaxed);
            if (cur != ref_empty ||
                !bk.refs[i].compare_exchange_strong(cur, ref_claimed, std::memory_order_acquire,
                                                    std::memory_order_relaxed))
                continue;
            /* Claimed: readers skip the slot until the ref is published after the signature. */
            bk.sigs[i].store(sig_of(h), std::memory_order_relaxed);
            bk.refs[i].store(ref, std::memory_order_release);
            return;
        }
        /* Counted before the slot is published (release), removed after it is cleared. */
        bk.spill.fetch_add(1, std::memory_order_relaxed);
        b = next_bucket(b);
    }
}

void conn_table::unlink_slot(uint32_t h, uint32_t ref) {
    uint64_t home = bucket_of(h);
    uint64_t b = home;
    for (uint64_t n = 0; n < n_buckets_; n++) {
        bucket &bk = buckets_[b];
        for (unsigned i = 0; i < slots_per_bucket; i++) {
            if (bk.refs[i].load(std::memory_order_relaxed) != ref) continue;
            bk.refs[i].store(ref_empty, std::memory_order_release);
            for (uint64_t x = home; x != b; x = next_bucket(x))
                buckets_[x].spill.fetch_sub(1, std::memory_order_release);
            return;
        }
        b = next_bucket(b);
    }
}

static inline uint32_t ref_of(uint32_t idx, conn_dir d) {
    return idx * 2u + static_cast<uint32_t>(d) + 1u;
}

void conn_table::unlink(uint32_t idx) {
    conn &c = entries_[idx];
    unlink_slot(c.orig_hash_, ref_of(idx, conn_dir::original));
    if (c.info_ & conn::info_has_reply) unlink_slot(c.reply_hash_, ref_of(idx, conn_dir::reply));
}

conn *conn_table::publish(unsigned worker, uint32_t idx, const flow_key &orig, uint32_t orig_hash,
                          const flow_key *reply, uint32_t reply_hash, const conn_value &value,
                          uint32_t now_ms) {
    worker_state &w = workers_[worker];
    conn &c = entries_[idx];
    c.orig_ = orig;
    c.service_ = value.service;
    c.backend_ = value.backend;
    c.last_seen_.store(now_ms, std::memory_order_relaxed);
    c.flags_.store(static_cast<uint8_t>(value.flags & ~conn_flag_dead), std::memory_order_relaxed);
    c.owner_ = static_cast<uint8_t>(worker);
    c.info_ = static_cast<uint8_t>((static_cast<uint8_t>(value.mode) & conn::info_mode_mask) |
                                   (reply ? conn::info_has_reply : 0));
    c.next_ = nil;
    if (reply)
        c.reply_ = *reply;
    else
        std::memset(&c.reply_, 0, sizeof(c.reply_));
    c.orig_hash_ = orig_hash;
    c.reply_hash_ = reply ? reply_hash : 0;
    c.created_ = now_ms;
    c.user_ = value.user;
    bool tcp = orig.proto == ipproto_tcp;
    if (tcp) w.embryonic.fetch_add(1, std::memory_order_relaxed);
    c.state_.store(st(tcp ? tcp_state::syn_recv : tcp_state::udp), std::memory_order_release);
    link(orig_hash, ref_of(idx, conn_dir::original));
    if (reply) link(reply_hash, ref_of(idx, conn_dir::reply));
    bump(w.live);
    bump(w.inserted);
    return &c;
}

uint32_t conn_table::evict_one(unsigned worker) {
    worker_state &w = workers_[worker];
    if (w.embryonic.load(std::memory_order_relaxed) <= 0 || w.chunk_head == nil) return nil;
    if (w.evict_chunk == nil) {
        w.evict_chunk = w.chunk_head;
        w.evict_pos = w.chunk_head * chunk_entries_;
    }
    for (unsigned n = 0; n < evict_scan; n++) {
        uint32_t c = w.evict_chunk;
        uint32_t end = c == w.chunk_tail
                           ? w.fresh_pos
                           : static_cast<uint32_t>(std::min<uint64_t>(
                                 uint64_t{c + 1} * chunk_entries_, capacity_));
        if (w.evict_pos >= end) {
            c = chunk_next_[c] == nil ? w.chunk_head : chunk_next_[c];
            w.evict_chunk = c;
            w.evict_pos = c * chunk_entries_;
            continue;
        }
        uint32_t idx = w.evict_pos++;
        conn &e = entries_[idx];
        uint8_t s = e.state_.load(std::memory_order_acquire);
        if ((s & conn::state_mask) != st(tcp_state::syn_recv)) continue;
        /* Claim it while still embryonic: a concurrent ACK that establishes it wins instead. */
        if (!e.state_.compare_exchange_strong(s, st(tcp_state::none), std::memory_order_acq_rel))
            continue;
        w.embryonic.fetch_sub(1, std::memory_order_relaxed);
        unlink(idx);
        bump(w.evicted);
        return idx;
    }
    return nil;
}

void conn_table::retire(unsigned worker, uint32_t idx) {
    worker_state &w = workers_[worker];
    conn &c = entries_[idx];
    uint8_t old = c.state_.exchange(st(tcp_state::none), std::memory_order_acq_rel);
    if ((old & conn::state_mask) == st(tcp_state::syn_recv))
        w.embryonic.fetch_sub(1, std::memory_order_relaxed);
    bump(w.live, -1);
    if (!rcu_) {
        c.next_ = w.free_head;
        w.free_head = idx;
        return;
    }
    c.next_ = nil;
    if (w.open_tail == nil)
        w.open_head = idx;
    else
        entries_[w.open_tail].next_ = idx;
    w.open_tail = idx;
    w.open_count++;
}

void conn_table::close_batch(unsigned worker) {
    worker_state &w = workers_[worker];
    if (!rcu_ || w.open_head == nil) return;
    uint64_t token = rte_rcu_qsbr_start(rcu_);
    if (w.limbo_count == limbo_batches) {
        /* Ring full: append to the newest batch; its later token is still safe. */
        limbo_batch &last = w.limbo[(w.limbo_first + w.limbo_count - 1) % limbo_batches];
        entries_[last.tail].next_ = w.open_head;
        last.tail = w.open_tail;
        last.token = token;
    } else {
        w.limbo[(w.limbo_first + w.limbo_count) % limbo_batches] = {w.open_head, w.open_tail,
                                                                    token};
        w.limbo_count++;
    }
    w.open_head = w.open_tail = nil;
    w.open_count = 0;
}

void conn_table::after_sweep(unsigned worker) {
    /* One grace period per close_batch_min entries: starting one is an atomic
     * add on the rcu variable's token, shared by all workers. */
    if (workers_[worker].open_count >= close_batch_min) close_batch(worker);
}

void conn_table::reclaim(unsigned worker) {
    worker_state &w = workers_[worker];
    while (w.limbo_count) {
        limbo_batch &b = w.limbo[w.limbo_first];
        if (rte_rcu_qsbr_check(rcu_, b.token, false) != 1) {
            w.reclaim_skip = reclaim_backoff;
            return;
        }
        entries_[b.tail].next_ = w.free_head;
        w.free_head = b.head;
        w.limbo_first = (w.limbo_first + 1) % limbo_batches;
        w.limbo_count--;
    }
}

uint32_t conn_table::sweep_next(unsigned worker) {
    worker_state &w = workers_[worker];
    if (w.chunk_head == nil) return nil;
    if (w.sweep_chunk == nil) {
        w.sweep_chunk = w.chunk_head;
        w.sweep_pos = w.chunk_head * chunk_entries_;
    }
    for (int pass = 0; pass < 2; pass++) {
        uint32_t c = w.sweep_chunk;
        uint32_t end = c == w.chunk_tail
                           ? w.fresh_pos
                           : static_cast<uint32_t>(std::min<uint64_t>(
                                 uint64_t{c + 1} * chunk_entries_, capacity_));
        if (w.sweep_pos < end) {
            uint32_t idx = w.sweep_pos++;
            if (idx + 4 < end) rte_prefetch0(&entries_[idx + 4]);
            return idx;
        }
        c = chunk_next_[c] == nil ? w.chunk_head : chunk_next_[c];
        w.sweep_chunk = c;
        w.sweep_pos = c * chunk_entries_;
    }
    return nil;
}

bool conn_table::due(uint32_t idx, uint32_t now_ms, conn_free_reason *why) {
    const conn &c = entries_[idx];
    uint8_t s = c.state_.load(std::memory_order_acquire) & conn::state_mask;
    if (s == st(tcp_state::none)) return false;
    if (c.flags_.load(std::memory_order_acquire) & conn_flag_dead) {
        *why = conn_free_reason::dead;
        return true;
    }
    auto idle = static_cast<int32_t>(now_ms - c.last_seen_.load(std::memory_order_relaxed));
    if (idle < 0 || static_cast<uint32_t>(idle) < timeout_ms_[s]) return false;
    *why = conn_free_reason::expired;
    return true;
}

void conn_table::count_freed(unsigned worker, conn_free_reason why) {
    worker_state &w = workers_[worker];
    bump(why == conn_free_reason::dead ? w.killed : w.expired);
}

void conn_table::count_full(unsigned worker) { bump(workers_[worker].full); }

void conn_table::advance_state(conn *c, conn_dir dir, uint8_t tcp_flags, uint8_t cur) {
    for (;;) {
        uint8_t nx = tcp_next_state(cur, dir, tcp_flags);
        if (nx == cur) return;
        if (c->state_.compare_exchange_weak(cur, nx, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
            bool was = (cur & conn::state_mask) == st(tcp_state::syn_recv);
            bool is = (nx & conn::state_mask) == st(tcp_state::syn_recv);
            if (was != is)
                workers_[c->owner_].embryonic.fetch_add(is ? 1 : -1, std::memory_order_relaxed);
            return;
        }
    }
}

uint64_t conn_table::size() const {
    uint64_t n = 0;
    for (unsigned i = 0; i < n_workers_; i++) n += workers_[i].live.load(std::memory_order_relaxed);
    return n;
}

conn_worker_stats conn_table::stats(unsigned worker) const {
    const worker_state &w = workers_[worker];
    conn_worker_stats s;
    s.live = w.live.load(std::memory_order_relaxed);
    s.inserted = w.inserted.load(std::memory_order_relaxed);
    s.expired = w.expired.load(std::memory_order_relaxed);
    s.killed = w.killed.load(std::memory_order_relaxed);
    s.evicted = w.evicted.load(std::memory_order_relaxed);
    s.full = w.full.load(std::memory_order_relaxed);
    s.conflicts = w.conflicts.load(std::memory_order_relaxed);
    int64_t e = w.embryonic.load(std::memory_order_relaxed);
    s.embryonic = e > 0 ? static_cast<uint64_t>(e) : 0;
    return s;
}

}  // namespace nlb
