/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ring_loop: the in-process packet loop every datapath benchmark runs through.
 *
 * A net_ring ethdev (rte_eth_from_ring: one ring used for RX and TX) is filled
 * with mbufs; each step does rx_burst(32) → refill each packet's headers from
 * the traffic generator (standing in for the NIC writing a fresh frame) →
 * the work under test → tx_burst back into the ring. The io-forward baseline
 * is the same loop with no work, so "nlb vs baseline" isolates nlb's cost.
 */
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace nlb::bench {

inline constexpr uint16_t burst_size = 32;

class ring_loop {
public:
    /** Creates the ring port and fills it with n_mbufs copies of frame. */
    ring_loop(const std::string &name, rte_mempool *pool, unsigned n_mbufs, const uint8_t *frame,
              uint16_t frame_len);
    ~ring_loop();
    ring_loop(const ring_loop &) = delete;
    ring_loop &operator=(const ring_loop &) = delete;

    /**
     * One burst. refill(mbuf) rewrites a packet's headers before the work;
     * work(pkts, n) processes the burst and returns how many of pkts[0..n)
     * to transmit, compacted at the front; the rest it must have freed.
     * Returns the number of packets that went through.
     */
    template <class Refill, class Work>
    uint16_t step(Refill &&refill, Work &&work) {
        rte_mbuf *pkts[burst_size];
        uint16_t n = rte_eth_rx_burst(port_, 0, pkts, burst_size);
        for (uint16_t i = 0; i < n; i++) refill(pkts[i]);
        uint16_t out = work(pkts, n);
        uint16_t sent = rte_eth_tx_burst(port_, 0, pkts, out);
        for (uint16_t i = sent; i < out; i++) rte_pktmbuf_free(pkts[i]);
        top_up(n - sent);
        return n;
    }

    uint16_t port() const { return port_; }

private:
    void top_up(unsigned missing);

    rte_mempool *pool_;
    rte_ring *ring_ = nullptr;
    uint16_t port_ = UINT16_MAX;
    std::vector<uint8_t> frame_;
};

}  // namespace nlb::bench
