/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <grp.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <libconfig.h++>
#include <map>
#include <memory>
#include <regex>
#include <set>

namespace nlb::dataplane {

const char *port_role_name(port_role r) {
    switch (r) {
        case port_role::client:
            return "client";
        case port_role::backend:
            return "backend";
        case port_role::both:
            return "both";
    }
    return "unknown";
}

std::string port_config::device_name() const {
    if (!pci.empty()) return pci;
    return vdev.substr(0, vdev.find(','));
}

namespace {

using libconfig::Setting;

// Internal only: the loader throws this and its public entry points turn it into a result.
struct load_error {
    std::string message;
};

// Names accepted in rss_hash, rx_offloads and tx_offloads lists.
const std::map<std::string, uint64_t> rss_hash_names = {
    {"ipv4", RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER},
    {"ipv6", RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_OTHER},
    {"tcp", RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV6_TCP},
    {"udp", RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV6_UDP},
};
const std::map<std::string, uint64_t> rx_offload_names = {
    {"rss_hash", RTE_ETH_RX_OFFLOAD_RSS_HASH},
    {"scatter", RTE_ETH_RX_OFFLOAD_SCATTER},
};
const std::map<std::string, uint64_t> tx_offload_names = {
    {"mbuf_fast_free", RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE},
    {"multi_segs", RTE_ETH_TX_OFFLOAD_MULTI_SEGS},
};
// Offloads people reach for that nlb deliberately does not use: it fixes checksums
// incrementally itself and never needs segmentation.
const std::set<std::string> refused_offloads = {
    "ipv4_cksum", "tcp_cksum", "udp_cksum", "sctp_cksum", "outer_ipv4_cksum", "outer_udp_cksum",
    "checksum",   "tcp_tso",   "udp_tso",   "tcp_lro",    "vlan_strip",       "vlan_insert"};

std::string join_names(const std::map<std::string, uint64_t> &names) {
    std::string out;
    for (const auto &[name, flags] : names) out += (out.empty() ? "" : ", ") + name;
    return out;
}

const char *type_name(Setting::Type t) {
    switch (t) {
        case Setting::TypeInt:
        case Setting::TypeInt64:
            return "an integer";
        case Setting::TypeFloat:
            return "a number";
        case Setting::TypeString:
            return "a string";
        case Setting::TypeBoolean:
            return "a boolean";
        case Setting::TypeGroup:
            return "a group";
        case Setting::TypeArray:
            return "an array";
        case Setting::TypeList:
            return "a list";
        default:
            return "nothing";
    }
}

// Error messages quote values as written; a value may hold a newline or other control
// bytes, and an error must stay one line. Escapes them (\n, \t, \xNN).
std::string one_line(const std::string &message) {
    std::string out;
    out.reserve(message.size());
    for (unsigned char c : message) {
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[5];
            std::snprintf(buf, sizeof(buf), "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

// Reads settings of one parsed file and turns every problem into "FILE:LINE: key 'PATH': ...".
class reader {
  public:
    explicit reader(std::string file) : file_(std::move(file)) {}

    [[noreturn]] void fail(const Setting &s, const std::string &what) const {
        std::string path = s.isRoot() ? std::string("(top level)") : s.getPath();
        throw load_error{where(s) + ": key '" + path + "': " + what};
    }
    [[noreturn]] void fail_missing(const Setting &parent, const std::string &key,
                                   const std::string &what) const {
        std::string path = parent.isRoot() ? key : parent.getPath() + "." + key;
        throw load_error{where(parent) + ": key '" + path + "': " + what};
    }

    // The group's keys must all be in `allowed`.
    void check_keys(const Setting &group, std::initializer_list<const char *> allowed) const {
        if (!group.isGroup())
            fail(group, std::string("expected a group, got ") + type_name(group.getType()));
        for (int i = 0; i < group.getLength(); i++) {
            const Setting &child = group[i];
            const char *name = child.getName();
            bool known = std::any_of(allowed.begin(), allowed.end(),
                                     [&](const char *a) { return std::strcmp(a, name) == 0; });
            if (!known) {
                std::string list;
                for (const char *a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
                fail(child, "unknown key (expected one of: " + list + ")");
            }
        }
    }

    const Setting *find(const Setting &group, const char *key) const {
        return group.exists(key) ? &group[key] : nullptr;
    }

    int64_t integer(const Setting &s, int64_t min, int64_t max) const {
        if (s.getType() != Setting::TypeInt && s.getType() != Setting::TypeInt64)
            fail(s, std::string("expected an integer, got ") + type_name(s.getType()));
        int64_t v = s.getType() == Setting::TypeInt
                        ? static_cast<int64_t>(static_cast<int>(s))
                        : static_cast<int64_t>(static_cast<long long>(s));
        if (v < min || v > max)
            fail(s, std::to_string(v) + " is out of range " + std::to_string(min) + ".." +
                        std::to_string(max));
        return v;
    }
    template <typename T>
    void get(const Setting &group, const char *key, int64_t min, int64_t max, T *out) const {
        if (const Setting *s = find(group, key)) *out = static_cast<T>(integer(*s, min, max));
    }
    bool boolean(const Setting &s) const {
        if (s.getType() != Setting::TypeBoolean)
            fail(s,
                 std::string("expected a boolean (true or false), got ") + type_name(s.getType()));
        return s;
    }
    void get_bool(const Setting &group, const char *key, bool *out) const {
        if (const Setting *s = find(group, key)) *out = boolean(*s);
    }
    std::string string(const Setting &s) const {
        if (s.getType() != Setting::TypeString)
            fail(s, std::string("expected a string, got ") + type_name(s.getType()));
        return s.c_str();
    }
    void get_string(const Setting &group, const char *key, std::string *out) const {
        if (const Setting *s = find(group, key)) *out = string(*s);
    }
    const Setting &list(const Setting &s) const {
        if (!s.isArray() && !s.isList())
            fail(s, std::string("expected a list [ ... ], got ") + type_name(s.getType()));
        return s;
    }
    // A list of names, each mapped to flags; refused names get their own message.
    uint64_t flags(const Setting &s, const std::map<std::string, uint64_t> &names) const {
        uint64_t out = 0;
        const Setting &l = list(s);
        for (int i = 0; i < l.getLength(); i++) {
            std::string name = string(l[i]);
            if (refused_offloads.count(name))
                fail(l[i], "'" + name +
                               "' is not used by nlb: it computes checksums itself and "
                               "never segments (allowed: " +
                               join_names(names) + ")");
            auto it = names.find(name);
            if (it == names.end())
                fail(l[i], "unknown name '" + name + "' (allowed: " + join_names(names) + ")");
            out |= it->second;
        }
        return out;
    }
    ip_prefix prefix(const Setting &s, ip_family want) const {
        std::string text = string(s);
        auto slash = text.find('/');
        const char *fam = want == ip_family::v4 ? "IPv4" : "IPv6";
        if (slash == std::string::npos)
            fail(s, "'" + text + "' is not an " + fam + " address with a prefix length (A/LEN)");
        ip_prefix p;
        if (!parse_ip(text.substr(0, slash), &p.addr, &p.family) || p.family != want)
            fail(s, "'" + text + "' is not an " + fam + " address with a prefix length (A/LEN)");
        unsigned max = want == ip_family::v4 ? 32 : 128;
        std::string len = text.substr(slash + 1);
        if (len.empty() || len.size() > 3 ||
            !std::all_of(len.begin(), len.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) ||
            std::stoul(len) < 1 || std::stoul(len) > max)
            fail(s, "prefix length in '" + text + "' is out of range 1.." + std::to_string(max));
        p.length = static_cast<uint8_t>(std::stoul(len));
        return p;
    }
    ip_addr address(const Setting &s, ip_family want) const {
        std::string text = string(s);
        ip_addr a;
        ip_family f;
        if (!parse_ip(text, &a, &f) || f != want)
            fail(s, "'" + text + "' is not an " + (want == ip_family::v4 ? "IPv4" : "IPv6") +
                        " address");
        return a;
    }

  private:
    // "FILE:LINE" of a setting: the file it was read from (an @include names its own file),
    // its line, or its nearest parent's when libconfig has none (the root: line 1).
    std::string where(const Setting &s) const {
        for (const Setting *p = &s;; p = &p->getParent()) {
            if (p->getSourceLine() > 0) {
                std::string src = p->getSourceFile() ? p->getSourceFile() : file_;
                if (src != file_ && src[0] != '/')  // an @include, relative to this file
                    src = (std::filesystem::path(file_).parent_path() / src).string();
                return src + ":" + std::to_string(p->getSourceLine());
            }
            if (p->isRoot()) return file_ + ":1";
        }
    }
    std::string file_;
};

// Parses the file or text with libconfig, turning syntax errors into our one-line form.
std::unique_ptr<libconfig::Config> parse(const std::string *text, const std::string &name) {
    auto cfg = std::make_unique<libconfig::Config>();
    try {
        if (text) {
            cfg->readString(*text);
        } else {
            // @include "x.conf" is resolved next to the including file, not in the cwd.
            std::string dir = std::filesystem::path(name).parent_path().string();
            cfg->setIncludeDir(dir.empty() ? "." : dir.c_str());
            cfg->readFile(name.c_str());
        }
    } catch (const libconfig::ParseException &e) {
        throw load_error{std::string(e.getFile() ? e.getFile() : name.c_str()) + ":" +
                         std::to_string(e.getLine()) + ": " + e.getError()};
    } catch (const libconfig::FileIOException &) {
        throw load_error{name + ": cannot read file: " + std::strerror(errno)};
    }
    return cfg;
}

nic_profile read_profile(const std::string &path) {
    auto cfg = parse(nullptr, path);
    reader r(path);
    const Setting &root = cfg->getRoot();
    r.check_keys(root,
                 {"driver", "bus", "devargs", "mtu", "max_mtu", "max_queues", "rx_descriptors",
                  "tx_descriptors", "min_descriptors", "max_descriptors", "paired_queues", "rss",
                  "rss_hash", "rx_offloads", "tx_offloads", "promiscuous", "rx_interrupts"});
    nic_profile p;
    p.path = path;
    p.name = std::filesystem::path(path).stem().string();
    const Setting *driver = r.find(root, "driver");
    if (!driver) r.fail_missing(root, "driver", "required (the DPDK driver, e.g. net_af_packet)");
    p.driver = r.string(*driver);
    const Setting *bus = r.find(root, "bus");
    if (!bus) r.fail_missing(root, "bus", "required (\"pci\" or \"vdev\")");
    std::string b = r.string(*bus);
    if (b != "pci" && b != "vdev") r.fail(*bus, "'" + b + "' is not \"pci\" or \"vdev\"");
    p.is_vdev = b == "vdev";
    r.get_string(root, "devargs", &p.devargs);
    if (p.is_vdev && !p.devargs.empty() && p.devargs.rfind(p.driver, 0) != 0)
        r.fail(root["devargs"],
               "a vdev template must start with the driver name '" + p.driver + "'");
    r.get(root, "max_mtu", 68, 16000, &p.max_mtu);
    r.get(root, "mtu", 68, p.max_mtu, &p.mtu);
    r.get(root, "max_queues", 1, 1024, &p.max_queues);
    r.get_bool(root, "paired_queues", &p.paired_queues);
    r.get(root, "min_descriptors", 1, 65535, &p.min_descriptors);
    r.get(root, "max_descriptors", p.min_descriptors, 65535, &p.max_descriptors);
    r.get(root, "rx_descriptors", p.min_descriptors, p.max_descriptors, &p.rx_descriptors);
    r.get(root, "tx_descriptors", p.min_descriptors, p.max_descriptors, &p.tx_descriptors);
    r.get_bool(root, "rss", &p.rss);
    if (const Setting *s = r.find(root, "rss_hash")) p.rss_hash = r.flags(*s, rss_hash_names);
    if (p.rss && p.rss_hash == 0) p.rss_hash = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
    if (const Setting *s = r.find(root, "rx_offloads"))
        p.rx_offloads = r.flags(*s, rx_offload_names);
    if (const Setting *s = r.find(root, "tx_offloads"))
        p.tx_offloads = r.flags(*s, tx_offload_names);
    r.get_bool(root, "promiscuous", &p.promiscuous);
    r.get_bool(root, "rx_interrupts", &p.rx_interrupts);
    return p;
}

std::vector<unsigned> parse_lcores(const reader &r, const Setting &s) {
    std::string text = r.string(s);
    static const std::regex item(R"((\d{1,4})(?:-(\d{1,4}))?)");
    std::set<unsigned> ids;
    size_t pos = 0;
    while (true) {
        size_t comma = text.find(',', pos);
        std::string part =
            text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        std::smatch m;
        if (!std::regex_match(part, m, item))
            r.fail(s, "'" + text +
                          "' is not a list of lcore ids and ranges (e.g. \"0-3\" or \"0,2,4\")");
        unsigned lo = std::stoul(m[1]), hi = m[2].matched ? std::stoul(m[2]) : lo;
        if (hi < lo || hi >= RTE_MAX_LCORE)
            r.fail(s, "range '" + part + "' is invalid (lcore ids are 0.." +
                          std::to_string(RTE_MAX_LCORE - 1) + ", low to high)");
        for (unsigned i = lo; i <= hi; i++) ids.insert(i);
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return {ids.begin(), ids.end()};
}

void read_eal(const reader &r, const Setting &root, const load_options &opt, dataplane_config *c) {
    const Setting *eal = r.find(root, "eal");
    if (!eal) r.fail_missing(root, "eal", "required (at least eal.lcores)");
    r.check_keys(*eal,
                 {"lcores", "main_lcore", "memory_mb", "no_huge", "file_prefix", "extra_args"});
    const Setting *lcores = r.find(*eal, "lcores");
    if (!lcores) r.fail_missing(*eal, "lcores", "required (e.g. \"0-2\": main lcore plus workers)");
    c->eal.lcores = r.string(*lcores);
    c->eal.lcore_ids = parse_lcores(r, *lcores);
    if (opt.cpu_count > 0 && c->eal.lcore_ids.back() >= opt.cpu_count)
        r.fail(*lcores, "lcore " + std::to_string(c->eal.lcore_ids.back()) +
                            " does not exist (this machine has " + std::to_string(opt.cpu_count) +
                            " CPUs)");
    c->eal.main_lcore = c->eal.lcore_ids.front();
    if (const Setting *s = r.find(*eal, "main_lcore")) {
        c->eal.main_lcore = static_cast<unsigned>(r.integer(*s, 0, RTE_MAX_LCORE - 1));
        if (!std::count(c->eal.lcore_ids.begin(), c->eal.lcore_ids.end(), c->eal.main_lcore))
            r.fail(*s, std::to_string(c->eal.main_lcore) + " is not one of eal.lcores '" +
                           c->eal.lcores + "'");
    }
    r.get_bool(*eal, "no_huge", &c->eal.no_huge);
    r.get(*eal, "memory_mb", 0, 1 << 20, &c->eal.memory_mb);
    if (c->eal.no_huge && c->eal.memory_mb == 0) c->eal.memory_mb = 512;
    if (const Setting *s = r.find(*eal, "file_prefix")) {
        c->eal.file_prefix = r.string(*s);
        static const std::regex ok(R"([A-Za-z0-9_.-]{1,64})");
        if (!std::regex_match(c->eal.file_prefix, ok))
            r.fail(*s, "'" + c->eal.file_prefix + "' must be 1-64 characters of [A-Za-z0-9_.-]");
    }
    if (const Setting *s = r.find(*eal, "extra_args")) {
        const Setting &l = r.list(*s);
        for (int i = 0; i < l.getLength(); i++) {
            std::string arg = r.string(l[i]);
            for (const char *managed : {"-l", "-c", "--lcores", "--main-lcore", "--master-lcore",
                                        "-m", "--no-huge", "--file-prefix", "--vdev", "-a"}) {
                std::string m = managed;
                if (arg == m || arg.rfind(m + "=", 0) == 0 ||
                    (m.size() == 2 && arg.size() > 2 && arg.rfind(m, 0) == 0))
                    r.fail(l[i],
                           "'" + arg + "' is set by nlb-dataplane itself (use the eal/ports keys)");
            }
            c->eal.extra_args.push_back(arg);
        }
    }
}

void read_workers(const reader &r, const Setting &root, dataplane_config *c) {
    const auto &ids = c->eal.lcore_ids;
    const Setting *w = r.find(root, "workers");
    if (!w) {
        for (unsigned id : ids)
            if (id != c->eal.main_lcore) c->workers.push_back(id);
        if (c->workers.empty())
            r.fail(root["eal"]["lcores"],
                   "'" + c->eal.lcores + "' leaves no lcore for workers besides the main lcore");
    } else {
        const Setting &l = r.list(*w);
        if (l.getLength() == 0) r.fail(l, "at least one worker lcore is required");
        size_t available = ids.size() - 1;
        if (static_cast<size_t>(l.getLength()) > available)
            r.fail(l, std::to_string(l.getLength()) + " workers but eal.lcores '" + c->eal.lcores +
                          "' has only " + std::to_string(available) +
                          " lcores besides the main lcore");
        for (int i = 0; i < l.getLength(); i++) {
            unsigned id = static_cast<unsigned>(r.integer(l[i], 0, RTE_MAX_LCORE - 1));
            if (id == c->eal.main_lcore)
                r.fail(l[i], "lcore " + std::to_string(id) + " is the main lcore, not a worker");
            if (!std::count(ids.begin(), ids.end(), id))
                r.fail(l[i], "lcore " + std::to_string(id) + " is not in eal.lcores '" +
                                 c->eal.lcores + "'");
            if (std::count(c->workers.begin(), c->workers.end(), id))
                r.fail(l[i], "lcore " + std::to_string(id) + " is listed twice");
            c->workers.push_back(id);
        }
    }
    if (c->workers.size() > max_workers)
        r.fail(w ? *w : root["eal"]["lcores"],
               std::to_string(c->workers.size()) + " workers is more than this build supports (" +
                   std::to_string(max_workers) + ", meson option max_workers)");
}

std::string expand_template(std::string t, unsigned index, const std::string &iface,
                            unsigned queues) {
    auto replace = [&t](const std::string &key, const std::string &value) {
        for (size_t p; (p = t.find(key)) != std::string::npos;) t.replace(p, key.size(), value);
    };
    replace("{index}", std::to_string(index));
    replace("{iface}", iface);
    replace("{queues}", std::to_string(queues));
    return t;
}

class port_reader {
  public:
    port_reader(const reader &r, const load_options &opt, dataplane_config *c)
        : r_(r), opt_(opt), c_(c) {}

    port_config read(const Setting &s, unsigned index) {
        r_.check_keys(s, {"name",        "pci",          "vdev",           "devargs",
                          "iface",       "profile",      "role",           "mtu",
                          "rx_queues",   "tx_queues",    "rx_descriptors", "tx_descriptors",
                          "promiscuous", "rss",          "rss_hash",       "rx_offloads",
                          "tx_offloads", "ipv4",         "ipv6",           "gateway_v4",
                          "gateway_v6",  "rx_interrupts"});
        port_config p;
        p.line = s.getSourceLine();
        p.name = "port" + std::to_string(index);
        if (const Setting *n = r_.find(s, "name")) {
            p.name = r_.string(*n);
            static const std::regex ok(R"([A-Za-z0-9_.-]{1,32})");
            if (!std::regex_match(p.name, ok))
                r_.fail(*n, "'" + p.name + "' must be 1-32 characters of [A-Za-z0-9_.-]");
        }
        nic_profile prof;  // built-in defaults when no profile is named
        prof.max_queues = 1024;
        prof.max_descriptors = 16384;
        prof.rss = true;
        prof.rss_hash = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
        const Setting *ps = r_.find(s, "profile");
        if (ps) {
            p.profile = r_.string(*ps);
            prof = profile(*ps, p.profile);
        }
        read_device(s, prof, &p);
        read_sizes(s, prof, &p);
        read_addresses(s, &p);
        if (p.vdev.empty() && p.pci.empty()) {
            if (prof.is_vdev && !prof.devargs.empty()) {
                if (prof.devargs.find("{iface}") != std::string::npos && p.iface.empty())
                    r_.fail_missing(s, "iface",
                                    "required by profile '" + p.profile +
                                        "' (its devargs template uses {iface})");
                p.vdev = expand_template(prof.devargs, index, p.iface,
                                         std::max(p.rx_queues, p.tx_queues));
            } else {
                r_.fail(s, "a port needs 'pci' or 'vdev' (or a vdev profile and 'iface')");
            }
        }
        return p;
    }

  private:
    nic_profile profile(const Setting &s, const std::string &name) {
        static const std::regex ok(R"([a-z0-9_-]{1,32})");
        if (!std::regex_match(name, ok))
            r_.fail(s, "'" + name +
                           "' is not a profile name (a file name in drivers-cfg/ "
                           "without .conf)");
        auto cached = profiles_.find(name);
        if (cached != profiles_.end()) return cached->second;
        std::string path =
            (std::filesystem::path(opt_.drivers_cfg_dir) / (name + ".conf")).string();
        std::error_code ec;
        if (opt_.drivers_cfg_dir.empty() || !std::filesystem::is_regular_file(path, ec))
            r_.fail(s, "profile '" + name + "' not found (no " + path + ")");
        nic_profile p = read_profile(path);  // its errors name the profile file
        profiles_.emplace(name, p);
        return p;
    }

    void read_device(const Setting &s, const nic_profile &prof, port_config *p) {
        const Setting *pci = r_.find(s, "pci");
        const Setting *vdev = r_.find(s, "vdev");
        if (pci && vdev) r_.fail(*vdev, "a port has either 'pci' or 'vdev', not both");
        r_.get_string(s, "iface", &p->iface);
        if (!p->iface.empty()) {
            static const std::regex ok(R"([A-Za-z0-9_.:@-]{1,15})");
            if (!std::regex_match(p->iface, ok))
                r_.fail(s["iface"], "'" + p->iface + "' is not a network interface name");
        }
        p->devargs = prof.is_vdev ? "" : prof.devargs;
        if (pci) {
            if (prof.is_vdev && !p->profile.empty())
                r_.fail(*pci, "profile '" + p->profile +
                                  "' is for a virtual device; use 'vdev' or "
                                  "'iface'");
            std::string a = r_.string(*pci);
            static const std::regex full(R"([0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])");
            static const std::regex shrt(R"([0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])");
            if (std::regex_match(a, shrt)) a = "0000:" + a;
            if (!std::regex_match(a, full))
                r_.fail(*pci, "'" + a + "' is not a PCI address (DDDD:BB:DD.F)");
            std::transform(a.begin(), a.end(), a.begin(), ::tolower);
            p->pci = a;
        }
        if (vdev) {
            if (!prof.is_vdev && !p->profile.empty())
                r_.fail(*vdev, "profile '" + p->profile + "' is for a PCI device; use 'pci'");
            p->vdev = r_.string(*vdev);
            std::string name = p->device_name();
            static const std::regex ok(R"(net_[a-z0-9_]+)");
            if (!std::regex_match(name, ok) || p->vdev.find(' ') != std::string::npos)
                r_.fail(*vdev, "'" + p->vdev + "' is not a vdev (net_<driver><n>[,key=value...])");
            if (!p->profile.empty() && name.rfind(prof.driver, 0) != 0)
                r_.fail(*vdev, "'" + name + "' is not a " + prof.driver + " device (profile '" +
                                   p->profile + "')");
        }
        if (const Setting *d = r_.find(s, "devargs")) {
            if (!pci) r_.fail(*d, "devargs apply to PCI ports only (a vdev carries its own)");
            p->devargs = r_.string(*d);
        }
    }

    void read_sizes(const Setting &s, const nic_profile &prof, port_config *p) {
        if (const Setting *role = r_.find(s, "role")) {
            std::string v = r_.string(*role);
            if (v == "client")
                p->role = port_role::client;
            else if (v == "backend")
                p->role = port_role::backend;
            else if (v == "both")
                p->role = port_role::both;
            else
                r_.fail(*role, "'" + v + "' is not one of client, backend, both");
        } else {
            r_.fail_missing(s, "role", "required (client, backend or both)");
        }
        p->mtu = prof.mtu;
        r_.get(s, "mtu", 68, prof.max_mtu, &p->mtu);
        auto workers = static_cast<uint16_t>(c_->workers.size());
        if (workers > prof.max_queues)
            r_.fail(s, std::to_string(workers) + " workers need " + std::to_string(workers) +
                           " RX queues but profile '" + p->profile + "' allows " +
                           std::to_string(prof.max_queues));
        p->rx_queues = workers;
        p->tx_queues =
            prof.paired_queues ? workers : std::min<uint16_t>(workers + 1, prof.max_queues);
        if (const Setting *q = r_.find(s, "rx_queues")) {
            p->rx_queues = static_cast<uint16_t>(r_.integer(*q, 1, prof.max_queues));
            if (p->rx_queues != workers)
                r_.fail(*q, std::to_string(p->rx_queues) + " must equal the number of workers (" +
                                std::to_string(workers) + "): each worker polls one RX queue");
        }
        if (const Setting *q = r_.find(s, "tx_queues")) {
            p->tx_queues = static_cast<uint16_t>(r_.integer(*q, workers, prof.max_queues));
            if (prof.paired_queues && p->tx_queues != workers)
                r_.fail(*q, std::to_string(p->tx_queues) + " must equal rx_queues (" +
                                std::to_string(workers) + "): profile '" + p->profile +
                                "' has queue pairs, one per worker");
        }
        p->rx_descriptors = prof.rx_descriptors;
        p->tx_descriptors = prof.tx_descriptors;
        r_.get(s, "rx_descriptors", prof.min_descriptors, prof.max_descriptors, &p->rx_descriptors);
        r_.get(s, "tx_descriptors", prof.min_descriptors, prof.max_descriptors, &p->tx_descriptors);
        p->promiscuous = prof.promiscuous;
        r_.get_bool(s, "promiscuous", &p->promiscuous);
        p->rx_interrupts = prof.rx_interrupts;
        r_.get_bool(s, "rx_interrupts", &p->rx_interrupts);
        p->rss = prof.rss;
        r_.get_bool(s, "rss", &p->rss);
        p->rss_hash = prof.rss_hash;
        if (const Setting *h = r_.find(s, "rss_hash")) p->rss_hash = r_.flags(*h, rss_hash_names);
        if (p->rss && p->rss_hash == 0)
            r_.fail(s["rss_hash"], "RSS is on but no hash field is named");
        p->rx_offloads = prof.rx_offloads;
        p->tx_offloads = prof.tx_offloads;
        if (const Setting *o = r_.find(s, "rx_offloads"))
            p->rx_offloads = r_.flags(*o, rx_offload_names);
        if (const Setting *o = r_.find(s, "tx_offloads"))
            p->tx_offloads = r_.flags(*o, tx_offload_names);
    }

    void read_addresses(const Setting &s, port_config *p) {
        if (const Setting *a = r_.find(s, "ipv4")) p->ipv4 = r_.prefix(*a, ip_family::v4);
        if (const Setting *a = r_.find(s, "ipv6")) p->ipv6 = r_.prefix(*a, ip_family::v6);
        if (!p->ipv4 && !p->ipv6)
            r_.fail_missing(s, "ipv4", "a port needs an address: 'ipv4' and/or 'ipv6' (A/LEN)");
        auto gateway = [&](const char *key, const std::optional<ip_prefix> &own, ip_family f,
                           std::optional<ip_addr> *out) {
            const Setting *g = r_.find(s, key);
            if (!g) return;
            ip_addr a = r_.address(*g, f);
            const char *own_key = f == ip_family::v4 ? "ipv4" : "ipv6";
            if (!own) r_.fail(*g, std::string("a gateway needs the port's own '") + own_key + "'");
            if (!prefix_contains(*own, a) || a == own->addr)
                r_.fail(*g, "'" + r_.string(*g) + "' is not another address on the port's subnet " +
                                format_ip(own->addr, f) + "/" + std::to_string(own->length));
            *out = a;
        };
        gateway("gateway_v4", p->ipv4, ip_family::v4, &p->gateway_v4);
        gateway("gateway_v6", p->ipv6, ip_family::v6, &p->gateway_v6);
    }

    const reader &r_;
    const load_options &opt_;
    dataplane_config *c_;
    std::map<std::string, nic_profile> profiles_;
};

void read_ports(const reader &r, const Setting &root, const load_options &opt,
                dataplane_config *c) {
    const Setting *ports = r.find(root, "ports");
    if (!ports)
        r.fail_missing(root, "ports", "required: a list ( { ... }, ... ) of at least one port");
    if (!ports->isList())
        r.fail(*ports,
               std::string("expected a list ( { ... }, ... ), got ") + type_name(ports->getType()));
    if (ports->getLength() == 0) r.fail(*ports, "at least one port is required");
    if (ports->getLength() > RTE_MAX_ETHPORTS)
        r.fail(*ports, "more than " + std::to_string(RTE_MAX_ETHPORTS) + " ports");
    port_reader pr(r, opt, c);
    for (int i = 0; i < ports->getLength(); i++) {
        const Setting &s = (*ports)[i];
        port_config p = pr.read(s, static_cast<unsigned>(i));
        for (const port_config &o : c->ports) {
            auto dup = [&](const char *key, const std::string &what) {
                const Setting &at = s.exists(key) ? s[key] : s;
                r.fail(at, "duplicate " + what + " (also used by port '" + o.name + "')");
            };
            if (o.name == p.name) dup("name", "port name '" + p.name + "'");
            if (o.device_name() == p.device_name())
                dup(p.pci.empty() ? "vdev" : "pci", "device '" + p.device_name() + "'");
            if (!p.iface.empty() && o.iface == p.iface) dup("iface", "interface '" + p.iface + "'");
            if (p.ipv4 && o.ipv4 && p.ipv4->addr == o.ipv4->addr)
                dup("ipv4", "address " + format_ip(p.ipv4->addr, ip_family::v4));
            if (p.ipv6 && o.ipv6 && p.ipv6->addr == o.ipv6->addr)
                dup("ipv6", "address " + format_ip(p.ipv6->addr, ip_family::v6));
        }
        c->ports.push_back(std::move(p));
    }
    auto faces = [&](port_role role) {
        return std::any_of(c->ports.begin(), c->ports.end(), [&](const port_config &p) {
            return p.role == role || p.role == port_role::both;
        });
    };
    if (!faces(port_role::client))
        r.fail(*ports, "no port faces clients (role 'client' or 'both')");
    if (!faces(port_role::backend))
        r.fail(*ports, "no port faces backends (role 'backend' or 'both')");
}

void read_tables(const reader &r, const Setting &root, dataplane_config *c) {
    if (const Setting *m = r.find(root, "mempool")) {
        r.check_keys(*m, {"size", "cache"});
        r.get(*m, "size", 1023, 1 << 26, &c->mempool_size);
        r.get(*m, "cache", 0, RTE_MEMPOOL_CACHE_MAX_SIZE, &c->mempool_cache);
    }
    if (const Setting *t = r.find(root, "conn_table")) {
        r.check_keys(*t, {"capacity", "timeouts"});
        r.get(*t, "capacity", 1024, 1 << 28, &c->conn_capacity);
        if (const Setting *to = r.find(*t, "timeouts")) {
            r.check_keys(*to, {"syn_recv", "established", "fin_wait", "time_wait", "close", "udp"});
            auto &x = c->timeouts;
            r.get(*to, "syn_recv", 1, 86400, &x.syn_recv);
            r.get(*to, "established", 1, 7 * 86400, &x.established);
            r.get(*to, "fin_wait", 1, 86400, &x.fin_wait);
            r.get(*to, "time_wait", 1, 86400, &x.time_wait);
            r.get(*to, "close", 1, 86400, &x.close);
            r.get(*to, "udp", 1, 86400, &x.udp);
        }
    }
    if (const Setting *t = r.find(root, "tunnel")) {
        r.check_keys(*t, {"source_prefix_v4", "source_prefix_v6"});
        if (const Setting *s = r.find(*t, "source_prefix_v4"))
            c->tunnel_source_v4 = r.prefix(*s, ip_family::v4);
        if (const Setting *s = r.find(*t, "source_prefix_v6"))
            c->tunnel_source_v6 = r.prefix(*s, ip_family::v6);
    }
    if (const Setting *a = r.find(root, "agent")) {
        r.check_keys(*a, {"socket", "group"});
        if (const Setting *g = r.find(*a, "group")) {
            c->agent_group = r.string(*g);
            if (c->agent_group.empty() || !getgrnam(c->agent_group.c_str()))
                r.fail(*g, "group '" + c->agent_group + "' does not exist");
        }
        if (const Setting *s = r.find(*a, "socket")) {
            c->agent_socket = r.string(*s);
            if (c->agent_socket.empty() || c->agent_socket[0] != '/' ||
                c->agent_socket.size() >= 108 || c->agent_socket.back() == '/')
                r.fail(*s, "'" + c->agent_socket +
                               "' must be an absolute file path shorter than "
                               "108 characters");
        }
    }
}

// Mbufs the ports park in their descriptor rings plus the per-lcore caches must fit in the pool.
void check_pool_size(const reader &r, const Setting &root, const dataplane_config &c) {
    uint64_t held = static_cast<uint64_t>(c.mempool_cache) * (c.workers.size() + 1);
    for (const port_config &p : c.ports)
        held += static_cast<uint64_t>(p.rx_queues) * p.rx_descriptors +
                static_cast<uint64_t>(p.tx_queues) * p.tx_descriptors;
    if (held + 1024 > c.mempool_size) {
        const Setting &at = root.exists("mempool") && root["mempool"].exists("size")
                                ? root["mempool"]["size"]
                                : root;
        r.fail(at, "mempool size " + std::to_string(c.mempool_size) +
                       " is too small: the ports' "
                       "descriptors and lcore caches hold up to " +
                       std::to_string(held) + " mbufs, plus 1024 in flight (set mempool.size >= " +
                       std::to_string(held + 1024) + ")");
    }
}

dataplane_config read_config(const std::string *text, const std::string &name,
                             const load_options &opt) {
    auto cfg = parse(text, name);
    reader r(name);
    const Setting &root = cfg->getRoot();
    r.check_keys(root, {"eal", "workers", "ports", "mempool", "conn_table", "tunnel", "agent"});
    dataplane_config c;
    c.path = name;
    read_eal(r, root, opt, &c);
    read_workers(r, root, &c);
    read_tables(r, root, &c);
    read_ports(r, root, opt, &c);
    check_pool_size(r, root, c);
    return c;
}

config_result load(const std::string *text, const std::string &name, const load_options &opt) {
    config_result out;
    try {
        out.config = read_config(text, name, opt);
    } catch (const load_error &e) {
        out.error = one_line(e.message);
    } catch (const std::exception &e) {  // libconfig or std surprises: still one line
        out.error = one_line(name + ": internal error while loading: " + e.what());
    }
    return out;
}

}  // namespace

config_result load_config(const std::string &path, const load_options &options) {
    return load(nullptr, path, options);
}

config_result load_config_string(const std::string &text, const std::string &name,
                                 const load_options &options) {
    return load(&text, name, options);
}

profile_result load_profile(const std::string &path) {
    profile_result out;
    try {
        out.profile = read_profile(path);
    } catch (const load_error &e) {
        out.error = one_line(e.message);
    } catch (const std::exception &e) {
        out.error = one_line(path + ": internal error while loading: " + e.what());
    }
    return out;
}

std::vector<std::string> eal_arguments(const dataplane_config &c) {
    std::vector<std::string> a = {"-l", c.eal.lcores, "--main-lcore",
                                  std::to_string(c.eal.main_lcore)};
    if (c.eal.memory_mb > 0) a.insert(a.end(), {"-m", std::to_string(c.eal.memory_mb)});
    if (c.eal.no_huge) a.push_back("--no-huge");
    if (!c.eal.file_prefix.empty()) a.insert(a.end(), {"--file-prefix", c.eal.file_prefix});
    bool any_pci = false;
    for (const port_config &p : c.ports) {
        if (!p.vdev.empty()) a.push_back("--vdev=" + p.vdev);
        if (!p.pci.empty()) {
            any_pci = true;
            a.insert(a.end(), {"-a", p.devargs.empty() ? p.pci : p.pci + "," + p.devargs});
        }
    }
    if (!any_pci) a.push_back("--no-pci");
    a.insert(a.end(), c.eal.extra_args.begin(), c.eal.extra_args.end());
    return a;
}

}  // namespace nlb::dataplane
