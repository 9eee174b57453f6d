/* SPDX-License-Identifier: Apache-2.0 */
#include "pipeline/route_table.h"

#include <algorithm>

namespace nlb {

namespace {
unsigned family_index(ip_family f) { return f == ip_family::v4 ? 0 : 1; }
unsigned family_bits(ip_family f) { return f == ip_family::v4 ? 32 : 128; }
}  // namespace

bool route_table::add_connected(const ip_addr &prefix, ip_family family, uint8_t prefix_len,
                                uint16_t port, std::string *error) {
    if (prefix_len == 0 || prefix_len > family_bits(family)) {
        *error = "prefix length " + std::to_string(prefix_len) + " is out of range 1.." +
                 std::to_string(family_bits(family));
        return false;
    }
    routes_.push_back(connected{ip_prefix{prefix, family, prefix_len}, port});
    std::stable_sort(routes_.begin(), routes_.end(), [](const connected &x, const connected &y) {
        return x.prefix.length > y.prefix.length;
    });
    return true;
}

bool route_table::set_default(const ip_addr &gateway, ip_family family, std::string *error) {
    for (const auto &c : routes_) {
        if (c.prefix.family == family && prefix_contains(c.prefix, gateway)) {
            has_default_[family_index(family)] = true;
            default_[family_index(family)] = next_hop{c.port, gateway};
            return true;
        }
    }
    *error = "gateway " + format_ip(gateway, family) + " is not on any port's connected prefix";
    return false;
}

bool route_table::lookup(const ip_addr &dst, ip_family family, next_hop *out) const {
    for (const auto &c : routes_) {
        if (c.prefix.family == family && prefix_contains(c.prefix, dst)) {
            *out = next_hop{c.port, dst};
            return true;
        }
    }
    unsigned fi = family_index(family);
    if (!has_default_[fi]) return false;
    *out = default_[fi];
    return true;
}

bool route_table::is_connected(const ip_addr &addr, ip_family family, uint16_t port) const {
    for (const auto &c : routes_)
        if (c.prefix.family == family && c.port == port && prefix_contains(c.prefix, addr)) return true;
    return false;
}

}  // namespace nlb
