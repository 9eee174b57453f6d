/* SPDX-License-Identifier: Apache-2.0 */
#include "ports.h"

#include <rte_errno.h>
#include <rte_ethdev.h>

namespace nlb::dataplane {

namespace {

std::string failure(const std::string &step, unsigned index, const std::string &device,
                    const std::string &reason) {
    return "Failed to " + step + " port " + std::to_string(index) + " (" + device + "): " + reason;
}

std::string errno_text(int ret) {
    return rte_strerror(ret < 0 ? -ret : ret);
}

}  // namespace

std::string format_mac(const rte_ether_addr &mac) {
    char buf[RTE_ETHER_ADDR_FMT_SIZE];
    rte_ether_format_addr(buf, sizeof(buf), &mac);
    return buf;
}

bool find_port(const port_config &config, unsigned index, uint16_t *port_id, std::string *error) {
    std::string device = config.device_name();
    if (rte_eth_dev_get_port_by_name(device.c_str(), port_id) == 0) return true;
    // PCI devices may register under another name (e.g. a representor suffix): match the bus
    // device.
    uint16_t id;
    RTE_ETH_FOREACH_DEV(id) {
        rte_eth_dev_info info;
        if (rte_eth_dev_info_get(id, &info) == 0 && info.device &&
            device == rte_dev_name(info.device)) {
            *port_id = id;
            return true;
        }
    }
    *error =
        failure("find", index, device,
                "no such ethdev (is the device bound to a DPDK driver / does the vdev exist?)");
    return false;
}

bool start_port(const port_config &config, unsigned index, rte_mempool *pool, port_state *out,
                std::string *error) {
    port_state st;
    st.index = index;
    st.name = config.name;
    st.device = config.device_name();
    if (!find_port(config, index, &st.port_id, error)) return false;
    const uint16_t id = st.port_id;
    auto fail = [&](const std::string &step, const std::string &reason) {
        *error = failure(step, index, st.device, reason);
        rte_eth_dev_stop(id);
        return false;
    };

    rte_eth_dev_info info;
    int ret = rte_eth_dev_info_get(id, &info);
    if (ret != 0) return fail("query", errno_text(ret));
    st.driver = info.driver_name ? info.driver_name : "";
    if (config.rx_queues > info.max_rx_queues || config.tx_queues > info.max_tx_queues)
        return fail("configure", std::to_string(config.rx_queues) + " RX / " +
                                     std::to_string(config.tx_queues) +
                                     " TX queues asked, the device has at most " +
                                     std::to_string(info.max_rx_queues) + " / " +
                                     std::to_string(info.max_tx_queues));
    if (config.mtu < info.min_mtu || config.mtu > info.max_mtu)
        return fail("configure",
                    "MTU " + std::to_string(config.mtu) + " is out of the device's range " +
                        std::to_string(info.min_mtu) + ".." + std::to_string(info.max_mtu));

    rte_eth_conf conf{};
    conf.rxmode.mtu = config.mtu;
    st.rss_hash = config.rss_hash & info.flow_type_rss_offloads;
    st.rss_enabled = config.rss && config.rx_queues > 1 && st.rss_hash != 0;
    if (st.rss_enabled) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = st.rss_hash;  // NULL key: the driver's default key
    } else {
        st.rss_hash = 0;
    }
    st.rx_offloads = config.rx_offloads & info.rx_offload_capa;
    if (!st.rss_enabled) st.rx_offloads &= ~RTE_ETH_RX_OFFLOAD_RSS_HASH;
    st.tx_offloads = config.tx_offloads & info.tx_offload_capa;
    conf.rxmode.offloads = st.rx_offloads;
    conf.txmode.offloads = st.tx_offloads;

    // RX queue interrupts where the configuration asks for them; a driver that refuses
    // them is configured without (its workers then back off on a timer).
    conf.intr_conf.rxq = config.rx_interrupts ? 1 : 0;
    ret = rte_eth_dev_configure(id, config.rx_queues, config.tx_queues, &conf);
    if (ret != 0 && conf.intr_conf.rxq) {
        conf.intr_conf.rxq = 0;
        ret = rte_eth_dev_configure(id, config.rx_queues, config.tx_queues, &conf);
    }
    if (ret != 0) return fail("configure", errno_text(ret));
    st.rx_interrupts = conf.intr_conf.rxq != 0;
    uint16_t rx_desc = config.rx_descriptors, tx_desc = config.tx_descriptors;
    ret = rte_eth_dev_adjust_nb_rx_tx_desc(id, &rx_desc, &tx_desc);
    if (ret != 0) return fail("size descriptor rings of", errno_text(ret));

    int socket = rte_eth_dev_socket_id(id);
    unsigned sock =
        socket < 0 ? static_cast<unsigned>(SOCKET_ID_ANY) : static_cast<unsigned>(socket);
    rte_eth_rxconf rxq = info.default_rxconf;
    rxq.offloads = st.rx_offloads;
    for (uint16_t q = 0; q < config.rx_queues; q++) {
        ret = rte_eth_rx_queue_setup(id, q, rx_desc, sock, &rxq, pool);
        if (ret != 0) return fail("set up RX queue " + std::to_string(q) + " of", errno_text(ret));
    }
    rte_eth_txconf txq = info.default_txconf;
    txq.offloads = st.tx_offloads;
    for (uint16_t q = 0; q < config.tx_queues; q++) {
        ret = rte_eth_tx_queue_setup(id, q, tx_desc, sock, &txq);
        if (ret != 0) return fail("set up TX queue " + std::to_string(q) + " of", errno_text(ret));
    }
    ret = rte_eth_dev_start(id);
    if (ret != 0) return fail("start", errno_text(ret));
    st.started = true;
    if (config.promiscuous) {
        ret = rte_eth_promiscuous_enable(id);
        if (ret != 0) {
            stop_port(&st);
            *error = failure("enable promiscuous mode on", index, st.device, errno_text(ret));
            return false;
        }
        st.promiscuous = true;
    }
    ret = rte_eth_macaddr_get(id, &st.mac);
    if (ret != 0) {
        stop_port(&st);
        *error = failure("read the MAC address of", index, st.device, errno_text(ret));
        return false;
    }
    uint16_t mtu = 0;
    st.mtu = rte_eth_dev_get_mtu(id, &mtu) == 0 ? mtu : config.mtu;
    st.rx_queues = config.rx_queues;
    st.tx_queues = config.tx_queues;
    *out = st;
    return true;
}

void stop_port(port_state *port) {
    if (!port->started) return;
    rte_eth_dev_stop(port->port_id);
    rte_eth_dev_close(port->port_id);
    port->started = false;
}

link_status port_link(const port_state &port) {
    rte_eth_link link{};
    link_status s;
    if (rte_eth_link_get_nowait(port.port_id, &link) != 0) return s;
    s.up = link.link_status == RTE_ETH_LINK_UP;
    s.speed_mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
    s.full_duplex = link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
    return s;
}

bool port_set::start_all(const std::vector<port_config> &configs, rte_mempool *pool,
                         std::string *error) {
    for (unsigned i = 0; i < configs.size(); i++) {
        port_state st;
        if (!start_port(configs[i], i, pool, &st, error)) {
            stop_all();
            return false;
        }
        ports_.push_back(st);
    }
    return true;
}

void port_set::stop_all() {
    // Reverse order: the last port brought up is the first taken down.
    for (auto it = ports_.rbegin(); it != ports_.rend(); ++it) stop_port(&*it);
    ports_.clear();
}

}  // namespace nlb::dataplane
