/* SPDX-License-Identifier: Apache-2.0 */
#include "pipeline/route_table.h"

#include <algorithm>

namespace nlb {

namespace {
unsigned family_index(ip_family f) { return f == ip_family::v4 ? 0 : 1; }
unsigned family_bits(ip_family f) { return f == ip_family::v4 ? 32 : 128; }
}  // namespace

bool route_table::in_prefix(const ip_addr &a, const connected &c) {
    unsigned full = c.len / 8, rest = c.len % 8;
    for (unsigned i = 0; i < full; i++)
        if (a.bytes[i] != c.prefix.bytes[i]) return false;
    if (rest) {
        uint8_t m = static_cast<uint8_t>(0xff << (8 - rest));
        if ((a.bytes[full] & m) != (c.prefix.bytes[full] & m)) return false;
    }
    return true;
}

bool route_table::add_connected(const ip_addr &prefix, ip_family family, uint8_t prefix_len,
                                uint16_t port, std::string *error) {
    if (prefix_len == 0 || prefix_len > family_bits(family)) {
        *error = "prefix length " + std::to_string(prefix_len) + " is out of range 1.." +
                 std::to_string(family_bits(family));
        return false;
    }
    connected c{prefix, family, prefix_len, port};
    // Keep only the network part so lookups compare cleanly.
    for (unsigned bit = prefix_len; bit < 128; bit++)
        c.prefix.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
    routes_.push_back(c);
    std::stable_sort(routes_.begin(), routes_.end(),
                     [](const connected &x, const connected &y) { return x.len > y.len; });
    return true;
}

bool route_table::set_default(const ip_addr &gateway, ip_family family, std::string *error) {
    for (const auto &c : routes_) {
        if (c.family == family && in_prefix(gateway, c)) {
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
        if (c.family == family && in_prefix(dst, c)) {
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
        if (c.family == family && c.port == port && in_prefix(addr, c)) return true;
    return false;
}

}  // namespace nlb
