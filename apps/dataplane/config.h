/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration of nlb-dataplane: one libconfig file (apps/dataplane/README.md
 * documents every key) plus the NIC profiles of drivers-cfg/ that ports include.
 *
 * The loader is a plain function from a file (or a string) to a validated
 * dataplane_config or to one error line of the form
 *     FILE:LINE: key 'ports.[0].mtu': 70000 is out of range 68..9600
 * It touches no device and needs no EAL, so tests and fuzz targets call it
 * directly. Any thread may call it; it keeps no global state.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/types.h"

namespace nlb::dataplane {

/** Which side of the appliance a port faces. */
enum class port_role : uint8_t { client, backend, both };

/** The text name of a role: "client", "backend" or "both". */
const char *port_role_name(port_role r);

/** An address with a prefix length, e.g. 198.18.0.1/24. */
/** Arguments for rte_eal_init (the "eal" group). */
struct eal_config {
    std::string lcores;                   // as written, e.g. "0-2"; passed as -l
    std::vector<unsigned> lcore_ids;      // lcores expanded and sorted
    unsigned main_lcore = 0;              // default: the lowest lcore
    unsigned memory_mb = 0;               // -m; 0 = let EAL decide
    bool no_huge = false;                 // --no-huge (needs memory_mb, defaults to 512 then)
    std::string file_prefix;              // --file-prefix; empty = EAL default
    std::vector<std::string> extra_args;  // appended verbatim
};

/** Idle timeouts of connection-table entries by state, in seconds. */
struct conn_timeouts {
    uint32_t syn_recv = 30;
    uint32_t established = 900;
    uint32_t fin_wait = 120;
    uint32_t time_wait = 120;
    uint32_t close = 10;
    uint32_t udp = 300;
};

/**
 * A NIC profile from drivers-cfg/: defaults for the ports that include it
 * plus the limits of the device family. Offload and RSS values are rte_ethdev
 * flag masks (RTE_ETH_RSS_*, RTE_ETH_RX_OFFLOAD_*, RTE_ETH_TX_OFFLOAD_*).
 */
struct nic_profile {
    std::string name;         // file name without ".conf"
    std::string path;         // the file it came from
    std::string driver;       // DPDK driver name, e.g. "net_af_packet", "mlx5_pci"
    bool is_vdev = false;     // bus = "vdev" (else "pci")
    std::string devargs;      // vdev template ({index}, {iface}, {queues}) or PCI devargs
    uint16_t mtu = 1500;      // default MTU
    uint16_t max_mtu = 9600;  // the largest MTU a port of this family may ask for
    uint16_t max_queues = 1;  // RX and TX queues per port
    // RX and TX queues come in pairs that must all be polled (af_packet, af_xdp: the kernel
    // spreads packets over every pair created), so a port has exactly one pair per worker and
    // no TX queue of the main lcore's own.
    bool paired_queues = false;
    uint16_t rx_descriptors = 1024;
    uint16_t tx_descriptors = 1024;
    uint16_t min_descriptors = 64;
    uint16_t max_descriptors = 4096;
    bool rss = false;       // the family can spread flows over queues with RSS
    uint64_t rss_hash = 0;  // hash fields asked for when rss is on
    uint64_t rx_offloads = 0;
    uint64_t tx_offloads = 0;
    bool promiscuous = false;
    // The driver raises RX queue interrupts (DPDK's rx_intr API): idle workers then block
    // until a packet arrives instead of waking up on a timer (worker_loop.h).
    bool rx_interrupts = false;
};

/** One entry of the "ports" list, profile defaults already applied. */
struct port_config {
    std::string name;     // default "port<i>"
    std::string pci;      // PCI address, or empty for a vdev
    std::string vdev;     // full --vdev argument (name[,args]); empty for PCI
    std::string devargs;  // PCI devargs appended to "-a pci"
    std::string iface;    // kernel interface the vdev attaches to (af_packet, af_xdp, tap)
    std::string profile;  // profile name, empty when none
    port_role role = port_role::both;
    uint16_t mtu = 1500;
    uint16_t rx_queues = 0;  // always one per worker
    // Default: one per worker plus one for the main lcore (TX queue rx_queues), within the
    // profile's max_queues; equal to rx_queues for paired-queue devices. When tx_queues ==
    // rx_queues the main lcore has no TX queue of its own on this port.
    uint16_t tx_queues = 0;
    uint16_t rx_descriptors = 1024;
    uint16_t tx_descriptors = 1024;
    bool promiscuous = false;
    // Idle workers wait for the queue's RX interrupt (default: the profile's).
    bool rx_interrupts = false;
    bool rss = true;  // use RSS when there is more than one queue and the device has it
    uint64_t rss_hash = 0;
    uint64_t rx_offloads = 0;
    uint64_t tx_offloads = 0;
    std::optional<ip_prefix> ipv4;
    std::optional<ip_prefix> ipv6;
    std::optional<ip_addr> gateway_v4;
    std::optional<ip_addr> gateway_v6;
    unsigned line = 0;  // where the entry starts in the file

    /** The ethdev name EAL gives the device: the vdev name before ',' or the PCI address. */
    std::string device_name() const;
};

/** The whole validated configuration. */
struct dataplane_config {
    std::string path;
    eal_config eal;
    std::vector<unsigned> workers;  // worker lcore ids; default: every lcore but the main one
    uint32_t mempool_size = 16383;  // mbufs
    uint32_t mempool_cache = 256;
    uint32_t conn_capacity = 1u << 20;
    conn_timeouts timeouts;
    std::optional<ip_prefix> tunnel_source_v4;
    std::optional<ip_prefix> tunnel_source_v6;
    std::string agent_socket = "/run/nlb/dataplane.sock";
    std::string agent_group;  // group of the agent socket ("" = the process's primary group)
    std::vector<port_config> ports;
};

/** What the loader needs besides the file. */
struct load_options {
    std::string drivers_cfg_dir;  // where "profile = NAME" finds NAME.conf
    unsigned cpu_count = 0;       // lcore ids must be below this; 0 = do not check
};

/** The result of loading: a config, or one error line. */
struct config_result {
    std::optional<dataplane_config> config;
    std::string error;
    bool ok() const { return config.has_value(); }
};

/** The result of loading a profile on its own. */
struct profile_result {
    std::optional<nic_profile> profile;
    std::string error;
    bool ok() const { return profile.has_value(); }
};

/**
 * Reads and validates a configuration file. Never throws; on failure the
 * result carries one line "FILE:LINE: key 'PATH': what is wrong".
 */
config_result load_config(const std::string &path, const load_options &options);

/**
 * Same as load_config for text already in memory; `name` stands for the file
 * name in messages. Profiles are still read from options.drivers_cfg_dir.
 */
config_result load_config_string(const std::string &text, const std::string &name,
                                 const load_options &options);

/** Reads and validates one drivers-cfg profile file. Never throws. */
profile_result load_profile(const std::string &path);

/**
 * The argv (without argv[0]) for rte_eal_init: lcores, main lcore, memory,
 * --no-huge, file prefix, one --vdev per vdev port, -a per PCI port (or
 * --no-pci when there is none), then the extra arguments.
 */
std::vector<std::string> eal_arguments(const dataplane_config &config);

}  // namespace nlb::dataplane
