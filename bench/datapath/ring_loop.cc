/* SPDX-License-Identifier: Apache-2.0 */
#include "datapath/ring_loop.h"

#include <rte_eth_ring.h>

#include <stdexcept>

namespace nlb::bench {

ring_loop::ring_loop(const std::string &name, rte_mempool *pool, unsigned n_mbufs,
                     const uint8_t *frame, uint16_t frame_len)
    : pool_(pool), frame_(frame, frame + frame_len) {
    unsigned size = 1;
    while (size <= n_mbufs) size <<= 1;
    // Ring ports keep their name after close, so every instance gets a fresh one.
    static unsigned instances = 0;
    std::string unique = name + "_" + std::to_string(instances++);
    ring_ = rte_ring_create(unique.c_str(), size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!ring_) throw std::runtime_error("Failed to create ring " + name);
    int port = rte_eth_from_ring(ring_);
    if (port < 0) throw std::runtime_error("Failed to create ring port " + name);
    port_ = static_cast<uint16_t>(port);
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(port_, 1, 1, &conf) != 0 ||
        rte_eth_rx_queue_setup(port_, 0, 1024, SOCKET_ID_ANY, nullptr, pool) != 0 ||
        rte_eth_tx_queue_setup(port_, 0, 1024, SOCKET_ID_ANY, nullptr) != 0)
        throw std::runtime_error("Failed to configure ring port " + name);
    if (rte_eth_dev_start(port_) != 0) throw std::runtime_error("Failed to start ring port");
    top_up(n_mbufs);
}

ring_loop::~ring_loop() {
    rte_eth_dev_stop(port_);
    rte_mbuf *m;
    while (rte_ring_dequeue(ring_, reinterpret_cast<void **>(&m)) == 0) rte_pktmbuf_free(m);
    rte_eth_dev_close(port_);
    rte_ring_free(ring_);
}

void ring_loop::top_up(unsigned missing) {
    for (unsigned i = 0; i < missing; i++) {
        rte_mbuf *m = rte_pktmbuf_alloc(pool_);
        if (!m) throw std::runtime_error("Failed to allocate an mbuf for the ring loop");
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame_.size())), frame_.data(),
                    frame_.size());
        if (rte_ring_enqueue(ring_, m) != 0) {
            rte_pktmbuf_free(m);
            return;
        }
    }
}

}  // namespace nlb::bench
