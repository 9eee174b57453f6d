/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conn_table: the one connection table shared by every worker lcore.
 *
 * Layout
 *   - Entries (`conn`) are 128 bytes, two cache lines: line 0 holds the
 *     original key and everything a packet or the owner's sweep reads, line 1
 *     the reply key. That is 64 bytes per flow direction. They live in one
 *     mmap'd array (lazily zeroed pages: creating 100 M entries costs nothing
 *     until they are used) handed out to workers in chunks through one atomic
 *     counter; after that each worker recycles its own entries (per-worker
 *     free lists, no shared allocation state, no lock).
 *   - The index is an array of 64-byte buckets (one cache line) of 10 slots,
 *     sized for two directions per connection at 85 % slot load. A slot is a
 *     16-bit signature (a filter, compared for the whole bucket at once with
 *     SSE) and a 32-bit {entry index, direction} word; inserts claim an empty
 *     slot with a CAS on that word, removals clear it; the key compare in the
 *     entry decides. A full bucket spills into the next one and counts the
 *     spill in its header, so lookups stop at the first bucket without
 *     spills. Entries never move, so a lookup never misses a key that is
 *     present for the whole lookup.
 *
 * Threads
 *   - lookup / prefetch / on_packet / mark_dead / set_flags: any lcore, lock-free.
 *   - insert / expire: only the worker given as argument, for its own entries
 *     (each worker index must be used by one thread at a time).
 *   - size / capacity / stats / memory_bytes / for_each: any thread.
 *
 * Reclamation (what the caller must do)
 *   A `conn *` returned by lookup() or insert() stays valid (same connection,
 *   same keys and value) until the calling thread next reports a quiescent
 *   state on the rte_rcu_qsbr variable given in conn_table_config::rcu. So:
 *   every thread that calls lookup() must be registered on that variable
 *   and online, and call rte_rcu_qsbr_quiescent() between bursts, holding no
 *   `conn *` across that call. Entries freed by the owner go to a per-worker
 *   limbo list and are reused only after rte_rcu_qsbr_check() says every
 *   registered thread has been quiescent since. With rcu == nullptr entries
 *   are reused at once: only for single-threaded use (tests, tools).
 *
 * Time is the caller's monotonic clock in milliseconds, as uint32_t; it may
 * wrap (all comparisons are modular), but no timeout may exceed 24 days.
 */
#pragma once

#include <rte_hash_crc.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "conn/hash_mix.h"
#include "conn/tcp_state_machine.h"
#include "core/types.h"

namespace nlb {

/** Idle timeouts per state, in seconds. */
struct conn_timeouts {
    uint32_t syn_recv_s = 30;
    uint32_t established_s = 900;
    uint32_t fin_wait_s = 120;
    uint32_t time_wait_s = 120;
    uint32_t close_s = 10;
    uint32_t udp_s = 300;
};

struct conn_table_config {
    uint64_t capacity = 0;     // connections (each may have two keys); 1 .. 2^31-2
    unsigned n_workers = 1;    // owners: 1 .. max_workers (and <= 255)
    conn_timeouts timeouts{};
    rte_rcu_qsbr *rcu = nullptr;  // grace periods for reuse; see the file comment
    bool prefault = true;      // populate all memory at create() (see conn/mapped_memory.h)
};

/** Why the owner freed a connection (argument of the on_free callbacks). */
enum class conn_free_reason : uint8_t {
    expired,  // idle longer than its state's timeout
    dead,     // mark_dead() was called
    evicted,  // embryonic entry evicted to admit a new connection
};

/** Connection flags. The caller owns every bit except conn_flag_dead. */
enum : uint8_t {
    conn_flag_counted = 0x01,  // counted as active for WLC (caller's bookkeeping)
    conn_flag_reset = 0x02,    // the datapath should reset this flow
    conn_flag_user = 0x04,     // 0x04..0x40 free for the caller
    conn_flag_dead = 0x80,     // set by mark_dead(); lookups skip the connection
};

/** What the caller stores with a new connection. */
struct conn_value {
    uint32_t service = 0;
    backend_ref backend{no_backend, 0};
    fwd_mode mode = fwd_mode::nat;
    uint8_t flags = 0;  // initial caller flags (conn_flag_dead is ignored)
    uint32_t user = 0;  // opaque to the table
};

/**
 * One connection. Keys and value are fixed from insert until the entry is
 * freed; state, flags and last-seen change through the conn_table methods.
 * The original key's destination is the VIP:port, i.e. what a reply's source
 * is rewritten back to in nat mode.
 */
class alignas(cache_line) conn {
public:
    const flow_key &orig_key() const { return orig_; }
    /** The reply key; meaningful only when has_reply(). */
    const flow_key &reply_key() const { return reply_; }
    bool has_reply() const { return (info_ & info_has_reply) != 0; }
    const flow_key &key(conn_dir d) const { return d == conn_dir::original ? orig_ : reply_; }
    uint32_t service() const { return service_; }
    backend_ref backend() const { return backend_; }
    fwd_mode mode() const { return static_cast<fwd_mode>(info_ & info_mode_mask); }
    uint32_t user() const { return user_; }
    unsigned owner() const { return owner_; }
    tcp_state state() const {
        return static_cast<tcp_state>(state_.load(std::memory_order_relaxed) & state_mask);
    }
    /** True once a FIN was seen from that side (reset when the pair is reused by a new SYN). */
    bool fin_seen(conn_dir d) const {
        return (state_.load(std::memory_order_relaxed) &
                (d == conn_dir::original ? state_fin_orig : state_fin_reply)) != 0;
    }
    /** True once the reply side's SYN-ACK was seen. */
    bool synack_seen() const {
        return (state_.load(std::memory_order_relaxed) & state_synack) != 0;
    }
    uint8_t flags() const { return flags_.load(std::memory_order_relaxed); }
    bool dead() const { return (flags() & conn_flag_dead) != 0; }
    uint32_t last_seen_ms() const { return last_seen_.load(std::memory_order_relaxed); }
    uint32_t created_ms() const { return created_; }

private:
    friend class conn_table;
    static constexpr uint8_t state_mask = tcp_state_byte::mask;
    static constexpr uint8_t state_fin_orig = tcp_state_byte::fin_orig;
    static constexpr uint8_t state_fin_reply = tcp_state_byte::fin_reply;
    static constexpr uint8_t state_synack = tcp_state_byte::synack;
    static constexpr uint8_t info_mode_mask = 0x03;
    static constexpr uint8_t info_has_reply = 0x04;

    /* line 0: every packet and the owner's sweep */
    flow_key orig_;
    uint32_t service_;
    backend_ref backend_;
    std::atomic<uint32_t> last_seen_;
    std::atomic<uint8_t> state_;  // tcp_state | fin/synack bits: one byte, so never torn
    std::atomic<uint8_t> flags_;
    uint8_t owner_;
    uint8_t info_;       // fwd_mode | has_reply
    uint32_t next_;      // owner only: free / limbo list link
    /* line 1: reply direction and cold data */
    flow_key reply_;
    uint32_t orig_hash_;
    uint32_t reply_hash_;
    uint32_t created_;
    uint32_t user_;
    [[maybe_unused]] uint32_t reserved_[2];
};
static_assert(sizeof(conn) == 2 * cache_line, "64 bytes per flow direction");

/** Per-worker counters (each written by its owner only). */
struct conn_worker_stats {
    uint64_t live = 0;        // connections owned now
    uint64_t inserted = 0;
    uint64_t expired = 0;     // freed by timeout
    uint64_t killed = 0;      // freed after mark_dead()
    uint64_t evicted = 0;     // embryonic entries evicted to admit another
    uint64_t full = 0;        // inserts refused with conn_table_full (no entry)
    uint64_t conflicts = 0;   // inserts refused because the reply key is taken
    uint64_t embryonic = 0;   // owned connections in syn_recv now
};

/** A free callback that does nothing (insert's default eviction hook). */
struct ignore_free {
    void operator()(const conn &, conn_free_reason) const {}
};

class conn_table {
public:
    ~conn_table();
    conn_table(const conn_table &) = delete;
    conn_table &operator=(const conn_table &) = delete;

    /**
     * Any thread, at start-up: maps (without touching) the entries and the
     * buckets for cfg.capacity connections. nullptr and *error on bad
     * configuration or when the memory cannot be mapped.
     */
    static std::unique_ptr<conn_table> create(const conn_table_config &cfg, std::string *error);

    /** Any lcore: the hash of a key (CRC32C over its 40 bytes). */
    static uint32_t hash(const flow_key &k) {
        uint64_t w[5];
        std::memcpy(w, &k, sizeof(w));
        uint32_t h = rte_hash_crc_8byte(w[0], 0x9e3779b9u);
        h = rte_hash_crc_8byte(w[1], h);
        h = rte_hash_crc_8byte(w[2], h);
        h = rte_hash_crc_8byte(w[3], h);
        return rte_hash_crc_8byte(w[4], h);
    }

    /**
     * Any lcore: the index of a hash's home bucket. A batched lookup computes
     * it once per packet and passes it to the calls below that take one
     * (the same as their hash-only forms, without mixing the hash again).
     */
    uint32_t home_bucket(uint32_t h) const { return static_cast<uint32_t>(bucket_of(h)); }

    /** Any lcore: prefetches the home bucket of a hash (stage 1 of a batched lookup). */
    void prefetch(uint32_t h) const { prefetch_bucket(home_bucket(h)); }
    void prefetch_bucket(uint32_t b) const { rte_prefetch0(&buckets_[b]); }

    /**
     * Any lcore: prefetches the entries whose slots in the home bucket carry
     * this hash (stage 2, once the bucket is in cache). Optional.
     */
    void prefetch_conn(uint32_t h) const { prefetch_conn(h, home_bucket(h)); }
    void prefetch_conn(uint32_t h, uint32_t home) const {
        const bucket &bk = buckets_[home];
        for (uint32_t m = candidates(bk, h); m; m &= m - 1) {
            uint32_t code = bk.refs[slot_of(m)].load(std::memory_order_relaxed);
            if (code == ref_empty || code == ref_claimed) continue;
            const char *c = reinterpret_cast<const char *>(&entries_[(code - 1) >> 1]);
            rte_prefetch0(c);
            if (!(code & 1)) rte_prefetch0(c + cache_line);  // reply key: line 1
        }
    }

    /**
     * Any registered lcore: the live connection with this key, or nullptr.
     * Connections marked dead are skipped. *dir (may be nullptr) tells which
     * key matched. The pointer is valid until the caller's next quiescent state.
     */
    conn *lookup(const flow_key &k, uint32_t h, conn_dir *dir) const {
        return lookup(k, h, home_bucket(h), dir);
    }
    /** The same, with home == home_bucket(h). */
    conn *lookup(const flow_key &k, uint32_t h, uint32_t home, conn_dir *dir) const {
        uint64_t b = home;
        for (uint64_t n = 0; n < n_buckets_; n++) {
            const bucket &bk = buckets_[b];
            for (uint32_t m = candidates(bk, h); m; m &= m - 1) {
                uint32_t code = bk.refs[slot_of(m)].load(std::memory_order_acquire);
                if (code == ref_empty || code == ref_claimed) continue;
                conn *c = &entries_[(code - 1) >> 1];
                bool reply = ((code - 1) & 1) != 0;
                if ((reply ? c->reply_ : c->orig_) == k &&
                    !(c->flags_.load(std::memory_order_acquire) & conn_flag_dead)) {
                    if (dir) *dir = reply ? conn_dir::reply : conn_dir::original;
                    return c;
                }
            }
            if (bk.spill.load(std::memory_order_acquire) == 0) return nullptr;
            b = next_bucket(b);
        }
        return nullptr;
    }

    /**
     * Worker `worker` only: creates a connection owned by `worker` with its
     * original key and, in nat mode, its reply key (reply == nullptr in dsr
     * and tunnel modes). TCP connections start in syn_recv, others in udp;
     * calling on_packet() with the first packet afterwards is harmless.
     *
     * When the worker has no free entry it evicts embryonic (syn_recv)
     * connections it owns, reporting each through on_evict(const conn &,
     * conn_free_reason::evicted); established connections are never evicted.
     * Returns nullptr and *why = conn_table_full when no entry can be had (with
     * an rcu variable, evicted entries need a grace period, so the insert that
     * evicts is refused and the following ones get the entries); nullptr and
     * *why = conn_conflict when the reply key belongs to another live
     * connection (counted in stats().conflicts).
     * If a live connection with the original key exists, returns it.
     */
    template <class F = ignore_free>
    conn *insert(unsigned worker, const flow_key &orig, uint32_t orig_hash, const flow_key *reply,
                 uint32_t reply_hash, const conn_value &value, uint32_t now_ms, drop_reason *why,
                 F &&on_evict = F{}) {
        prefetch(orig_hash);
        if (reply) prefetch(reply_hash);
        conn *existing = nullptr;
        if (!precheck(worker, orig, orig_hash, reply, reply_hash, &existing, why)) return existing;
        uint32_t idx = alloc_entry(worker);
        if (idx == nil) {
            for (unsigned n = 0; n < evict_batch; n++) {
                uint32_t victim = evict_one(worker);
                if (victim == nil) break;
                on_evict(static_cast<const conn &>(entries_[victim]), conn_free_reason::evicted);
                retire(worker, victim);
            }
            close_batch(worker);
            idx = alloc_entry(worker);
            if (idx == nil) {
                count_full(worker);
                *why = drop_reason::conn_table_full;
                return nullptr;
            }
        }
        *why = drop_reason::none;
        return publish(worker, idx, orig, orig_hash, reply, reply_hash, value, now_ms);
    }

    /**
     * Any lcore, per packet of a looked-up connection: refreshes last-seen and
     * advances the TCP state from the packet's flags (pass 0 for non-TCP).
     * RST → close; SYN-ACK from the reply side is noted; the client's ACK
     * establishes; a FIN from one side → fin_wait, from both → time_wait; a
     * client SYN on a time_wait/close connection starts it over in syn_recv.
     */
    void on_packet(conn *c, conn_dir dir, uint8_t tcp_flags, uint32_t now_ms) {
        if (c->last_seen_.load(std::memory_order_relaxed) != now_ms)
            c->last_seen_.store(now_ms, std::memory_order_relaxed);
        const uint8_t cur = c->state_.load(std::memory_order_acquire);
        // The common case inline: data and ACKs of an open flow, any UDP
        // packet. tcp_next_state() leaves these states alone then.
        const uint8_t s = cur & conn::state_mask;
        if (s == static_cast<uint8_t>(tcp_state::udp) ||
            ((s == static_cast<uint8_t>(tcp_state::established) ||
              s == static_cast<uint8_t>(tcp_state::fin_wait)) &&
             !(tcp_flags & (tcp_flag_fin | tcp_flag_rst))))
            return;
        advance_state(c, dir, tcp_flags, cur);
    }

    /**
     * Any lcore (and the agent, from for_each): the owner frees the
     * connection on its next sweep; lookups skip it from now on. Takes a
     * const pointer so for_each callers can use it; only the atomic flags change.
     */
    void mark_dead(const conn *c) {
        const_cast<conn *>(c)->flags_.fetch_or(conn_flag_dead, std::memory_order_release);
    }

    /** Any lcore: sets / clears caller flags (conn_flag_dead is not affected). */
    void set_flags(const conn *c, uint8_t f) {
        const_cast<conn *>(c)->flags_.fetch_or(static_cast<uint8_t>(f & ~conn_flag_dead),
                                               std::memory_order_relaxed);
    }
    void clear_flags(const conn *c, uint8_t f) {
        const_cast<conn *>(c)->flags_.fetch_and(static_cast<uint8_t>(~(f & ~conn_flag_dead)),
                                                std::memory_order_relaxed);
    }

    /**
     * Worker `worker` only, e.g. once per few bursts: visits up to `budget` of
     * its entries (round robin over all it owns) and frees those marked dead
     * or idle past their state's timeout, calling on_free(const conn &,
     * conn_free_reason) for each after it left the index and before it can be
     * reused. Freed entries become reusable after a grace period (started
     * once per close_batch_min freed entries, or when the worker runs out).
     * Returns the number freed. A full cycle over n owned entries takes n / budget calls.
     */
    template <class F>
    unsigned expire(unsigned worker, uint32_t now_ms, unsigned budget, F &&on_free) {
        unsigned freed = 0;
        for (unsigned i = 0; i < budget; i++) {
            uint32_t idx = sweep_next(worker);
            if (idx == nil) break;
            conn_free_reason why;
            if (!due(idx, now_ms, &why)) continue;
            unlink(idx);
            on_free(static_cast<const conn &>(entries_[idx]), why);
            retire(worker, idx);
            count_freed(worker, why);
            freed++;
        }
        if (freed) after_sweep(worker);
        return freed;
    }

    /**
     * Any thread (the agent): calls fn(const conn &) for every connection in
     * use, e.g. to list connections or mark_dead() those of a removed backend.
     * Always memory-safe (entries are never unmapped). Exact when the calling
     * thread is registered and online on the rcu variable and reports no
     * quiescent state during the call: then no entry seen in use can be
     * reused before the call returns. Otherwise an entry freed and reused
     * meanwhile may be seen half old, half new (fine for listing only).
     */
    template <class F>
    void for_each(F &&fn) const {
        uint64_t used = used_entries();
        for (uint64_t i = 0; i < used; i++) {
            const conn &c = entries_[i];
            if (c.state() != tcp_state::none) fn(c);
        }
    }

    /** Timeout in ms of a state (0 for none). */
    uint32_t timeout_ms(tcp_state s) const { return timeout_ms_[static_cast<unsigned>(s)]; }

    uint64_t size() const;
    uint64_t capacity() const { return capacity_; }
    unsigned n_workers() const { return n_workers_; }
    conn_worker_stats stats(unsigned worker) const;
    /** Bytes mapped for entries plus buckets (what capacity() costs when all is touched). */
    uint64_t memory_bytes() const { return entries_bytes_ + buckets_bytes_; }
    uint64_t bucket_count() const { return n_buckets_; }

private:
    static constexpr uint32_t nil = UINT32_MAX;
    static constexpr unsigned slots_per_bucket = 10;
    /* refs[i]: 0 empty, UINT32_MAX claimed by an insert, else entry * 2 + dir + 1. */
    static constexpr uint32_t ref_empty = 0;
    static constexpr uint32_t ref_claimed = UINT32_MAX;
    static constexpr unsigned evict_batch = 32;
    static constexpr unsigned evict_scan = 1024;
    static constexpr unsigned limbo_batches = 64;
    static constexpr unsigned close_batch_min = 32;
    static constexpr unsigned reclaim_backoff = 8;

    struct alignas(cache_line) bucket {
        std::atomic<uint32_t> spill;  // entries living past this bucket whose home is here or before
        std::atomic<uint16_t> sigs[slots_per_bucket];
        std::atomic<uint32_t> refs[slots_per_bucket];
    };
    static_assert(sizeof(bucket) == cache_line);

    static uint16_t sig_of(uint32_t h) { return static_cast<uint16_t>(h); }
    /*
     * Slots of a bucket whose signature equals h's: bit 2i set for slot i. A
     * filter only: callers load the slot's ref atomically and compare the key.
     * SSE compares the signatures of the whole bucket without a branch per
     * slot (two overlapping loads: slots 0-7 and 2-9); TSAN builds use atomics.
     */
    static uint32_t candidates(const bucket &bk, uint32_t h) {
#if defined(__SSE2__) && !defined(__SANITIZE_THREAD__)
        const char *p = reinterpret_cast<const char *>(&bk.sigs[0]);
        const __m128i key = _mm_set1_epi16(static_cast<short>(sig_of(h)));
        __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
        __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 4));
        uint32_t m = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi16(lo, key))) |
                     (static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi16(hi, key))) << 4);
        return m & 0x55555u;
#else
        uint32_t m = 0;
        for (unsigned i = 0; i < slots_per_bucket; i++)
            if (bk.sigs[i].load(std::memory_order_relaxed) == sig_of(h)) m |= 1u << (2 * i);
        return m;
#endif
    }
    /* The lowest slot of a candidates() mask. */
    static unsigned slot_of(uint32_t m) { return static_cast<unsigned>(__builtin_ctz(m)) >> 1; }

    struct limbo_batch {
        uint32_t head, tail;
        uint64_t token;
    };
    struct worker_state;

    conn_table() = default;

    uint64_t bucket_of(uint32_t h) const { return hash_reduce(h, n_buckets_); }
    uint64_t next_bucket(uint64_t b) const { return b + 1 == n_buckets_ ? 0 : b + 1; }
    uint64_t used_entries() const;

    bool precheck(unsigned worker, const flow_key &orig, uint32_t orig_hash, const flow_key *reply,
                  uint32_t reply_hash, conn **existing, drop_reason *why);
    uint32_t alloc_entry(unsigned worker);
    uint32_t evict_one(unsigned worker);
    conn *publish(unsigned worker, uint32_t idx, const flow_key &orig, uint32_t orig_hash,
                  const flow_key *reply, uint32_t reply_hash, const conn_value &value,
                  uint32_t now_ms);
    void link(uint32_t h, uint32_t ref);
    void unlink_slot(uint32_t h, uint32_t ref);
    void unlink(uint32_t idx);
    void retire(unsigned worker, uint32_t idx);
    void close_batch(unsigned worker);
    void after_sweep(unsigned worker);
    uint32_t pop_free(worker_state &w);
    void reclaim(unsigned worker);
    uint32_t sweep_next(unsigned worker);
    bool due(uint32_t idx, uint32_t now_ms, conn_free_reason *why);
    void count_freed(unsigned worker, conn_free_reason why);
    void count_full(unsigned worker);
    void advance_state(conn *c, conn_dir dir, uint8_t tcp_flags, uint8_t cur);

    conn *entries_ = nullptr;
    bucket *buckets_ = nullptr;
    uint64_t entries_bytes_ = 0;
    uint64_t buckets_bytes_ = 0;
    uint64_t capacity_ = 0;
    uint64_t n_buckets_ = 0;
    uint32_t chunk_entries_ = 0;
    uint32_t n_chunks_ = 0;
    unsigned n_workers_ = 0;
    rte_rcu_qsbr *rcu_ = nullptr;
    uint32_t timeout_ms_[tcp_state_count] = {};
    std::unique_ptr<uint32_t[]> chunk_next_;  // per-worker chunk lists
    std::unique_ptr<worker_state[]> workers_;
    alignas(cache_line) std::atomic<uint32_t> next_chunk_{0};
};

}  // namespace nlb
