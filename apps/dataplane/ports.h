/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port bring-up for nlb-dataplane: turns each configured port into a started
 * ethdev with one RX queue per worker and the configured TX queues, RSS when
 * the device offers it, the configured MTU and promiscuity.
 *
 * Main lcore only, after rte_eal_init and before workers are launched (and
 * stop_all after they have returned). Errors come back as one line
 * "Failed to <step> port N (NAME): reason" for the caller to print.
 */
#pragma once

#include <rte_ether.h>
#include <rte_mempool.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"

namespace nlb::dataplane {

/** A port as brought up. */
struct port_state {
    unsigned index = 0;    // position in the configuration
    uint16_t port_id = 0;  // ethdev port id
    std::string name;      // configured name
    std::string device;    // ethdev name, e.g. "net_af_packet0"
    std::string driver;    // driver name reported by the device
    rte_ether_addr mac{};
    uint16_t mtu = 0;
    uint16_t rx_queues = 0;
    uint16_t tx_queues = 0;
    bool rss_enabled = false;  // RSS configured (more than one RX queue and device support)
    uint64_t rss_hash = 0;     // hash fields actually asked for (device-supported subset)
    uint64_t rx_offloads = 0;  // offloads actually enabled
    uint64_t tx_offloads = 0;
    bool promiscuous = false;
    bool rx_interrupts = false;  // configured with RX queue interrupts (intr_conf.rxq)
    bool started = false;
};

/** Link status as the device reports it. */
struct link_status {
    bool up = false;
    uint32_t speed_mbps = 0;
    bool full_duplex = false;
};

/** "aa:bb:cc:dd:ee:ff". */
std::string format_mac(const rte_ether_addr &mac);

/**
 * Finds the ethdev of a configured port by its device name (vdev name or PCI
 * address). Returns false and sets *error when there is none.
 */
bool find_port(const port_config &config, unsigned index, uint16_t *port_id, std::string *error);

/**
 * Configures, sets up queues (RX buffers from `pool`) and starts one port.
 * On failure leaves the device stopped and returns false with *error set.
 */
bool start_port(const port_config &config, unsigned index, rte_mempool *pool, port_state *out,
                std::string *error);

/** Stops and closes a started port; safe to call twice. */
void stop_port(port_state *port);

/** The current link status (does not wait for the link to come up). */
link_status port_link(const port_state &port);

/**
 * All configured ports. start_all brings them up in configuration order and,
 * if one fails, stops those already started. The destructor stops any still
 * running.
 */
class port_set {
  public:
    port_set() = default;
    port_set(const port_set &) = delete;
    port_set &operator=(const port_set &) = delete;
    ~port_set() { stop_all(); }

    bool start_all(const std::vector<port_config> &configs, rte_mempool *pool, std::string *error);
    void stop_all();
    const std::vector<port_state> &ports() const { return ports_; }

  private:
    std::vector<port_state> ports_;
};

}  // namespace nlb::dataplane
