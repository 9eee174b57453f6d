/* SPDX-License-Identifier: Apache-2.0 */
#include "snapshot/snapshot.h"

#include "sched/sched_hash.h"

namespace nlb {

snapshot::~snapshot() {
    poison();
}

void snapshot::poison() {
    // Volatile stores: the compiler must not drop them as dead before the
    // memory is freed, or the poisoning would vanish exactly when it matters.
    *static_cast<volatile uint64_t *>(&magic) = magic_dead;
    for (auto &b : backends) {
        *static_cast<volatile uint32_t *>(&b.generation) = 0xdeaddeadu;
        *static_cast<volatile bool *>(&b.in_use) = false;
    }
    for (auto &s : services) {
        *static_cast<volatile bool *>(&s.in_use) = false;
        *static_cast<volatile uint32_t *>(&s.backend_count) = 0xdeaddeadu;
    }
}

uint32_t snapshot::hash_key(const ip_addr &vip, uint16_t port_be, uint8_t proto, ip_family f) {
    uint64_t lo = load_le64(vip.bytes), hi = load_le64(vip.bytes + 8);
    uint64_t extra = (uint64_t(port_be) << 16) | (uint64_t(proto) << 8) | uint64_t(f);
    uint64_t h = mix64(lo ^ mix64(hi ^ mix64(extra)));
    return static_cast<uint32_t>(h);
}

uint32_t snapshot::hash_addr(const ip_addr &a, ip_family f) {
    uint64_t lo = load_le64(a.bytes), hi = load_le64(a.bytes + 8);
    return static_cast<uint32_t>(mix64(lo ^ mix64(hi ^ uint64_t(f))));
}

const snapshot_service *snapshot::find_service(const ip_addr &vip, uint16_t port_be, uint8_t proto,
                                               ip_family family) const {
    if (service_table_.empty()) return nullptr;
    uint32_t i = hash_key(vip, port_be, proto, family) & service_mask_;
    for (;;) {
        const service_entry &e = service_table_[i];
        if (e.service == UINT32_MAX) return nullptr;
        if (e.key.port_be == port_be && e.key.vip == vip && e.key.proto == proto &&
            e.key.family == family)
            return &services[e.service];
        i = (i + 1) & service_mask_;
    }
}

bool snapshot::is_vip(const ip_addr &addr, ip_family family) const {
    if (vip_table_.empty()) return false;
    uint32_t i = hash_addr(addr, family) & vip_mask_;
    for (;;) {
        const vip_entry &e = vip_table_[i];
        if (!e.used) return false;
        if (e.addr == addr && e.family == family) return true;
        i = (i + 1) & vip_mask_;
    }
}

}  // namespace nlb
