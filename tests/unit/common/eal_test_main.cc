/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main() for unit tests that need DPDK memory (mbufs, mempools): initialises
 * EAL without hugepages, shared config or PCI so tests run unprivileged and in
 * parallel, then runs GoogleTest.
 */
#include <gtest/gtest.h>
#include <rte_eal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "eal_test_main.h"

namespace nlb::test {

rte_mempool *test_pool() {
    static rte_mempool *pool = rte_pktmbuf_pool_create(
        "nlb_test_pool", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    return pool;
}

}  // namespace nlb::test

int main(int argc, char **argv) {
    testing::InitGoogleTest(&argc, argv);
    std::vector<std::string> args = {
        "nlb-test", "--no-huge", "--no-shconf", "--no-pci", "-m", "256",
        "--vdev=net_null0", "--log-level=lib.*:error", "-l", "0"};
    std::vector<char *> eal_argv;
    for (auto &a : args) eal_argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "Failed to initialise EAL for tests\n");
        return 1;
    }
    int rc = RUN_ALL_TESTS();
    rte_eal_cleanup();
    return rc;
}
