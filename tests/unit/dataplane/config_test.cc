/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration loader: a table of broken snippets, each with the
 * "FILE:LINE: key 'PATH'" its message must carry, and good files whose
 * defaults (and profile defaults) must come out as documented.
 */
#include <gtest/gtest.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "config.h"

using namespace nlb::dataplane;

namespace {

load_options options() {
    load_options o;
    o.drivers_cfg_dir = NLB_SOURCE_DRIVERS_CFG;
    o.cpu_count = 8;
    return o;
}

config_result load(const std::string &text) {
    return load_config_string(text, "t.conf", options());
}

// Two lines every good snippet starts with; line numbers below count from here.
const std::string eal = "eal = { lcores = \"0-2\"; no_huge = true; };\n";  // line 1
const std::string two_ports =
    "ports = (\n"                                                                  // 2
    "  { vdev = \"net_null0\"; role = \"client\"; ipv4 = \"198.18.0.1/24\"; },\n"  // 3
    "  { vdev = \"net_null1\"; role = \"backend\"; ipv4 = \"198.19.0.1/24\"; }\n"  // 4
    ");\n";                                                                        // 5

struct bad_case {
    const char *what;
    std::string text;
    const char *expected;  // substring of the one-line error
};

class bad_config : public testing::TestWithParam<bad_case> {};

TEST_P(bad_config, fails_with_file_line_and_key) {
    const bad_case &c = GetParam();
    config_result r = load(c.text);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_NE(r.error.find(c.expected), std::string::npos)
        << c.what << "\n  got:      " << r.error << "\n  expected: " << c.expected;
    EXPECT_EQ(r.error.find('\n'), std::string::npos) << "one line: " << r.error;
}

std::string port_line(const std::string &extra) {
    return "ports = (\n  { vdev = \"net_null0\"; role = \"both\"; ipv4 = \"198.18.0.1/24\"; " +
           extra + " }\n);\n";
}

const bad_case bad_cases[] = {
    {"syntax error", eal + "ports = (\n  { role = = \"client\"; }\n);\n", "t.conf:3: syntax error"},
    {"unknown top-level key", eal + "colour = 3;\n" + two_ports,
     "t.conf:2: key 'colour': unknown key"},
    {"unknown port key", eal + port_line("mut = 1500;"),
     "t.conf:3: key 'ports.[0].mut': unknown key"},
    {"mtu out of range", eal + port_line("\nmtu = 70000;"),
     "t.conf:4: key 'ports.[0].mtu': 70000 is out of range 68..9600"},
    {"mtu wrong type", eal + port_line("mtu = \"1500\";"),
     "t.conf:3: key 'ports.[0].mtu': expected an integer, got a string"},
    {"missing ports", eal, "t.conf:1: key 'ports': required"},
    {"empty port list", eal + "ports = ();\n", "t.conf:2: key 'ports': at least one port"},
    {"missing eal", two_ports, "key 'eal': required"},
    {"missing role", eal + "ports = (\n  { vdev = \"net_null0\"; ipv4 = \"198.18.0.1/24\"; }\n);\n",
     "t.conf:3: key 'ports.[0].role': required"},
    {"bad role", eal + port_line("\nrole2 = 1;"), "t.conf:4: key 'ports.[0].role2': unknown key"},
    {"role not a name",
     eal +
         "ports = (\n  { vdev = \"net_null0\"; role = \"front\"; ipv4 = \"198.18.0.1/24\"; }\n);\n",
     "t.conf:3: key 'ports.[0].role': 'front' is not one of client, backend, both"},
    {"no backend-facing port",
     eal + "ports = (\n  { vdev = \"net_null0\"; role = \"client\"; ipv4 = \"198.18.0.1/24\"; "
           "}\n);\n",
     "t.conf:2: key 'ports': no port faces backends"},
    {"bad IPv4 prefix", eal + port_line("\nipv6 = \"198.18.0.1/24\";"),
     "t.conf:4: key 'ports.[0].ipv6': '198.18.0.1/24' is not an IPv6 address"},
    {"prefix length too long",
     eal + "ports = (\n  { vdev = \"net_null0\"; role = \"both\";\n ipv4 = \"198.18.0.1/33\"; "
           "}\n);\n",
     "t.conf:4: key 'ports.[0].ipv4': prefix length in '198.18.0.1/33' is out of range 1..32"},
    {"address without prefix",
     eal + "ports = (\n  { vdev = \"net_null0\"; role = \"both\"; ipv4 = \"198.18.0.1\"; }\n);\n",
     "t.conf:3: key 'ports.[0].ipv4': '198.18.0.1' is not an IPv4 address with a prefix length"},
    {"no address", eal + "ports = (\n  { vdev = \"net_null0\"; role = \"both\"; }\n);\n",
     "t.conf:3: key 'ports.[0].ipv4': a port needs an address"},
    {"gateway off subnet", eal + port_line("\ngateway_v4 = \"198.19.0.1\";"),
     "t.conf:4: key 'ports.[0].gateway_v4': '198.19.0.1' is not another address on the port's "
     "subnet"},
    {"gateway without own v6", eal + port_line("\ngateway_v6 = \"2001:2::1\";"),
     "t.conf:4: key 'ports.[0].gateway_v6': a gateway needs the port's own 'ipv6'"},
    {"duplicate device",
     eal +
         "ports = (\n  { vdev = \"net_null0\"; role = \"client\"; ipv4 = \"198.18.0.1/24\"; },\n"
         "  { vdev = \"net_null0,size=64\"; role = \"backend\"; ipv4 = \"198.19.0.1/24\"; }\n);\n",
     "t.conf:4: key 'ports.[1].vdev': duplicate device 'net_null0'"},
    {"duplicate name",
     eal + "ports = (\n  { name = \"a\"; vdev = \"net_null0\"; role = \"client\"; ipv4 = "
           "\"198.18.0.1/24\"; },\n"
           "  { name = \"a\"; vdev = \"net_null1\"; role = \"backend\"; ipv4 = \"198.19.0.1/24\"; "
           "}\n);\n",
     "t.conf:4: key 'ports.[1].name': duplicate port name 'a'"},
    {"duplicate address",
     eal + "ports = (\n  { vdev = \"net_null0\"; role = \"client\"; ipv4 = \"198.18.0.1/24\"; },\n"
           "  { vdev = \"net_null1\"; role = \"backend\"; ipv4 = \"198.18.0.1/16\"; }\n);\n",
     "t.conf:4: key 'ports.[1].ipv4': duplicate address 198.18.0.1"},
    {"pci and vdev", eal + port_line("pci = \"0000:03:00.0\";"),
     "t.conf:3: key 'ports.[0].vdev': a port has either 'pci' or 'vdev', not both"},
    {"bad pci address",
     eal + "ports = (\n  { pci = \"03:00\"; role = \"both\"; ipv4 = \"198.18.0.1/24\"; }\n);\n",
     "t.conf:3: key 'ports.[0].pci': '03:00' is not a PCI address"},
    {"no device", eal + "ports = (\n  { role = \"both\"; ipv4 = \"198.18.0.1/24\"; }\n);\n",
     "t.conf:3: key 'ports.[0]': a port needs 'pci' or 'vdev'"},
    {"more workers than cores", "eal = { lcores = \"0-1\"; };\nworkers = [1, 2];\n" + two_ports,
     "t.conf:2: key 'workers': 2 workers but eal.lcores '0-1' has only 1 lcores besides the main "
     "lcore"},
    {"worker is the main lcore", eal + "workers = [0];\n" + two_ports,
     "t.conf:2: key 'workers.[0]': lcore 0 is the main lcore"},
    {"worker outside lcores", eal + "workers = [1, 5];\n" + two_ports,
     "t.conf:2: key 'workers.[1]': lcore 5 is not in eal.lcores '0-2'"},
    {"worker twice", eal + "workers = [1, 1];\n" + two_ports,
     "t.conf:2: key 'workers.[1]': lcore 1 is listed twice"},
    {"lcore beyond the machine", "eal = { lcores = \"0-9\"; };\n" + two_ports,
     "t.conf:1: key 'eal.lcores': lcore 9 does not exist (this machine has 8 CPUs)"},
    {"lcores garbage", "eal = { lcores = \"zero\"; };\n" + two_ports,
     "t.conf:1: key 'eal.lcores': 'zero' is not a list of lcore ids"},
    {"only one lcore", "eal = { lcores = \"0\"; };\n" + two_ports,
     "key 'eal.lcores': '0' leaves no lcore for workers"},
    {"managed EAL argument",
     "eal = { lcores = \"0-1\";\n extra_args = [\"--vdev=net_ring0\"]; };\n" + two_ports,
     "t.conf:2: key 'eal.extra_args.[0]': '--vdev=net_ring0' is set by nlb-dataplane itself"},
    {"timeout out of range",
     eal + "conn_table = { timeouts = {\n established = 0; }; };\n" + two_ports,
     "t.conf:3: key 'conn_table.timeouts.established': 0 is out of range 1..604800"},
    {"unknown timeout", eal + "conn_table = { timeouts = { synrecv = 3; }; };\n" + two_ports,
     "t.conf:2: key 'conn_table.timeouts.synrecv': unknown key"},
    {"capacity too small", eal + "conn_table = { capacity = 10; };\n" + two_ports,
     "t.conf:2: key 'conn_table.capacity': 10 is out of range 1024..268435456"},
    {"mempool cache too large", eal + "mempool = { size = 65535; cache = 1000; };\n" + two_ports,
     "t.conf:2: key 'mempool.cache': 1000 is out of range 0..512"},
    {"mempool too small for the rings", eal + "mempool = { size = 4095; };\n" + two_ports,
     "t.conf:2: key 'mempool.size': mempool size 4095 is too small"},
    {"relative agent socket", eal + "agent = { socket = \"nlb.sock\"; };\n" + two_ports,
     "t.conf:2: key 'agent.socket': 'nlb.sock' must be an absolute file path"},
    {"tunnel prefix of the wrong family",
     eal + "tunnel = { source_prefix_v6 = \"198.19.0.0/24\"; };\n" + two_ports,
     "t.conf:2: key 'tunnel.source_prefix_v6': '198.19.0.0/24' is not an IPv6 address"},
    {"unknown profile", eal + port_line("profile = \"nosuchnic\";"),
     "t.conf:3: key 'ports.[0].profile': profile 'nosuchnic' not found"},
    {"profile path escape", eal + port_line("profile = \"../etc/passwd\";"),
     "t.conf:3: key 'ports.[0].profile': '../etc/passwd' is not a profile name"},
    {"vdev of another driver than its profile", eal + port_line("profile = \"af_packet\";"),
     "t.conf:3: key 'ports.[0].vdev': 'net_null0' is not a net_af_packet device (profile "
     "'af_packet')"},
    {"profile template needs iface",
     eal + "ports = (\n  { profile = \"af_packet\"; role = \"both\"; ipv4 = \"198.18.0.1/24\"; "
           "}\n);\n",
     "t.conf:3: key 'ports.[0].iface': required by profile 'af_packet'"},
    {"mtu above the profile's limit",
     eal + "ports = (\n  { profile = \"af_packet\"; iface = \"veth0\"; role = \"both\";\n"
           "    ipv4 = \"198.18.0.1/24\"; mtu = 9000; }\n);\n",
     "t.conf:4: key 'ports.[0].mtu': 9000 is out of range 68..1900"},
    {"rx queues not one per worker", eal + port_line("rx_queues = 3;"),
     "t.conf:3: key 'ports.[0].rx_queues': 3 must equal the number of workers (2)"},
    {"extra TX queue on a paired-queue device",
     eal + "ports = (\n  { profile = \"af_packet\"; iface = \"veth0\"; role = \"both\";\n"
           "    ipv4 = \"198.18.0.1/24\"; tx_queues = 3; }\n);\n",
     "t.conf:4: key 'ports.[0].tx_queues': 3 must equal rx_queues (2): profile 'af_packet' has "
     "queue pairs"},
    {"descriptors beyond the profile",
     eal + "ports = (\n  { profile = \"ixgbe\"; pci = \"0000:03:00.0\";\n"
           " role = \"both\"; ipv4 = \"198.18.0.1/24\";\n rx_descriptors = 8192; }\n);\n",
     "t.conf:5: key 'ports.[0].rx_descriptors': 8192 is out of range 64..4096"},
    {"checksum offload refused", eal + port_line("tx_offloads = [\"tcp_cksum\"];"),
     "t.conf:3: key 'ports.[0].tx_offloads.[0]': 'tcp_cksum' is not used by nlb"},
    {"unknown rss hash field", eal + port_line("rss_hash = [\"sctp\"];"),
     "t.conf:3: key 'ports.[0].rss_hash.[0]': unknown name 'sctp'"},
    {"boolean expected", eal + port_line("promiscuous = 1;"),
     "t.conf:3: key 'ports.[0].promiscuous': expected a boolean"},
    {"rx_interrupts not a boolean", eal + port_line("rx_interrupts = \"yes\";"),
     "t.conf:3: key 'ports.[0].rx_interrupts': expected a boolean"},
    {"ports not a list", eal + "ports = { vdev = \"net_null0\"; };\n",
     "t.conf:2: key 'ports': expected a list"},
};

INSTANTIATE_TEST_SUITE_P(table, bad_config, testing::ValuesIn(bad_cases));

TEST(config, minimal_file_gets_documented_defaults) {
    config_result r = load(eal + two_ports);
    ASSERT_TRUE(r.ok()) << r.error;
    const dataplane_config &c = *r.config;
    EXPECT_EQ(c.eal.lcore_ids, (std::vector<unsigned>{0, 1, 2}));
    EXPECT_EQ(c.eal.main_lcore, 0u);
    EXPECT_EQ(c.eal.memory_mb, 512u);  // --no-huge without memory_mb
    EXPECT_EQ(c.workers, (std::vector<unsigned>{1, 2}));
    EXPECT_EQ(c.timeouts.syn_recv, 30u);
    EXPECT_EQ(c.timeouts.established, 900u);
    EXPECT_EQ(c.timeouts.fin_wait, 120u);
    EXPECT_EQ(c.timeouts.time_wait, 120u);
    EXPECT_EQ(c.timeouts.close, 10u);
    EXPECT_EQ(c.timeouts.udp, 300u);
    EXPECT_EQ(c.agent_socket, "/run/nlb/dataplane.sock");
    EXPECT_EQ(c.mempool_size, 16383u);
    EXPECT_EQ(c.mempool_cache, 256u);
    EXPECT_EQ(c.conn_capacity, 1u << 20);
    EXPECT_FALSE(c.tunnel_source_v4.has_value());
    ASSERT_EQ(c.ports.size(), 2u);
    const port_config &p = c.ports[0];
    EXPECT_EQ(p.name, "port0");
    EXPECT_EQ(p.device_name(), "net_null0");
    EXPECT_EQ(p.role, port_role::client);
    EXPECT_EQ(p.mtu, 1500);
    EXPECT_EQ(p.rx_queues, 2);  // one per worker
    EXPECT_EQ(p.tx_queues, 3);  // one per worker plus the main lcore's
    EXPECT_EQ(p.rx_descriptors, 1024);
    EXPECT_TRUE(p.rss);
    ASSERT_TRUE(p.ipv4.has_value());
    EXPECT_EQ(format_ip(p.ipv4->addr, nlb::ip_family::v4), "198.18.0.1");
    EXPECT_EQ(p.ipv4->length, 24);
    EXPECT_EQ(c.ports[1].role, port_role::backend);
    EXPECT_EQ(c.ports[1].line, 4u);
}

TEST(config, every_key_is_read) {
    std::string text =
        "eal = { lcores = \"0,2-3\"; main_lcore = 2; memory_mb = 1024; file_prefix = \"lab\";\n"
        "        extra_args = [\"--log-level=lib.eal:debug\"]; };\n"
        "workers = [3, 0];\n"
        "mempool = { size = 32767; cache = 128; };\n"
        "conn_table = { capacity = 4096; timeouts = { syn_recv = 5; established = 60;\n"
        "  fin_wait = 6; time_wait = 7; close = 8; udp = 9; }; };\n"
        "tunnel = { source_prefix_v4 = \"198.19.0.0/24\"; source_prefix_v6 = \"2001:2:0:19::/64\"; "
        "};\n"
        "agent = { socket = \"/run/nlb-lab/dp.sock\"; };\n"
        "ports = (\n"
        "  { name = \"outside\"; pci = \"0000:03:00.1\"; devargs = \"mprq_en=1\"; role = "
        "\"both\";\n"
        "    mtu = 9000; rx_queues = 2; tx_queues = 2; rx_descriptors = 2048; tx_descriptors = "
        "512;\n"
        "    promiscuous = true; rss = true; rss_hash = [\"ipv4\", \"tcp\"];\n"
        "    rx_offloads = [\"rss_hash\"]; tx_offloads = [\"multi_segs\"];\n"
        "    ipv4 = \"198.18.0.1/24\"; ipv6 = \"2001:2:0:18::1/64\";\n"
        "    gateway_v4 = \"198.18.0.254\"; gateway_v6 = \"2001:2:0:18::fe\"; }\n"
        ");\n";
    config_result r = load(text);
    ASSERT_TRUE(r.ok()) << r.error;
    const dataplane_config &c = *r.config;
    EXPECT_EQ(c.eal.main_lcore, 2u);
    EXPECT_EQ(c.workers, (std::vector<unsigned>{3, 0}));
    EXPECT_EQ(c.mempool_cache, 128u);
    EXPECT_EQ(c.conn_capacity, 4096u);
    EXPECT_EQ(c.timeouts.syn_recv, 5u);
    EXPECT_EQ(c.timeouts.udp, 9u);
    ASSERT_TRUE(c.tunnel_source_v6.has_value());
    EXPECT_EQ(c.tunnel_source_v6->length, 64);
    EXPECT_EQ(c.agent_socket, "/run/nlb-lab/dp.sock");
    const port_config &p = c.ports[0];
    EXPECT_EQ(p.name, "outside");
    EXPECT_EQ(p.mtu, 9000);
    EXPECT_EQ(p.tx_queues, 2);
    EXPECT_EQ(p.rx_descriptors, 2048);
    EXPECT_EQ(p.rss_hash & RTE_ETH_RSS_NONFRAG_IPV6_UDP, 0u);
    EXPECT_NE(p.rss_hash & RTE_ETH_RSS_NONFRAG_IPV4_TCP, 0u);
    EXPECT_EQ(p.tx_offloads, RTE_ETH_TX_OFFLOAD_MULTI_SEGS);
    ASSERT_TRUE(p.gateway_v6.has_value());
    EXPECT_EQ(format_ip(*p.gateway_v6, nlb::ip_family::v6), "2001:2:0:18::fe");

    std::vector<std::string> args = eal_arguments(c);
    std::vector<std::string> want = {"-l",
                                     "0,2-3",
                                     "--main-lcore",
                                     "2",
                                     "-m",
                                     "1024",
                                     "--file-prefix",
                                     "lab",
                                     "-a",
                                     "0000:03:00.1,mprq_en=1",
                                     "--log-level=lib.eal:debug"};
    EXPECT_EQ(args, want);
}

TEST(config, profile_values_are_defaults_the_port_overrides) {
    std::string text = eal +
                       "ports = (\n"
                       "  { profile = \"af_packet\"; iface = \"nlb-cl-h\"; role = \"client\";\n"
                       "    ipv4 = \"198.18.0.1/24\"; },\n"
                       "  { profile = \"af_packet\"; iface = \"nlb-dp1\"; role = \"backend\";\n"
                       "    ipv4 = \"198.19.0.1/24\"; mtu = 1600; promiscuous = false;\n"
                       "    rx_interrupts = true; }\n"
                       ");\n";
    config_result r = load(text);
    ASSERT_TRUE(r.ok()) << r.error;
    const port_config &a = r.config->ports[0], &b = r.config->ports[1];
    EXPECT_EQ(a.profile, "af_packet");
    // One queue pair per worker: the kernel fans out over every pair made.
    EXPECT_EQ(a.vdev,
              "net_af_packet0,iface=nlb-cl-h,qpairs=2,blocksz=4096,framesz=2048,framecnt=512");
    EXPECT_EQ(a.rx_queues, 2);
    EXPECT_EQ(a.tx_queues, 2);
    EXPECT_EQ(b.device_name(), "net_af_packet1");
    EXPECT_EQ(a.mtu, 1500);  // profile default
    EXPECT_EQ(b.mtu, 1600);  // port override
    EXPECT_TRUE(a.promiscuous);
    EXPECT_FALSE(b.promiscuous);
    EXPECT_FALSE(a.rx_interrupts);  // af_packet's profile: the PMD gives none
    EXPECT_TRUE(b.rx_interrupts);   // port override
    EXPECT_FALSE(a.rss);            // af_packet: no RSS
    EXPECT_EQ(a.rx_descriptors, 512);

    std::vector<std::string> args = eal_arguments(*r.config);
    EXPECT_NE(std::find(args.begin(), args.end(), "--no-huge"), args.end());
    EXPECT_NE(std::find(args.begin(), args.end(), "--no-pci"), args.end());
    EXPECT_NE(std::find(args.begin(), args.end(), "--vdev=" + a.vdev), args.end());
}

TEST(config, pci_profile_supplies_devargs_and_short_address) {
    std::string text = eal +
                       "ports = (\n  { profile = \"mlx5\"; pci = \"03:00.0\"; role = \"both\";\n"
                       "    ipv6 = \"2001:2:0:18::1/64\"; }\n);\n";
    config_result r = load(text);
    ASSERT_TRUE(r.ok()) << r.error;
    const port_config &p = r.config->ports[0];
    EXPECT_EQ(p.pci, "0000:03:00.0");
    EXPECT_TRUE(p.rss);
    EXPECT_NE(p.rx_offloads & RTE_ETH_RX_OFFLOAD_RSS_HASH, 0u);
}

TEST(config, errors_in_a_profile_name_the_profile_file) {
    auto dir =
        std::filesystem::temp_directory_path() / ("nlb-cfg-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "broken.conf")
        << "driver = \"net_null\";\nbus = \"vdev\";\nmax_queues = 0;\n";
    load_options o = options();
    o.drivers_cfg_dir = dir.string();
    config_result r = load_config_string(eal + port_line("profile = \"broken\";"), "t.conf", o);
    std::filesystem::remove_all(dir);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error.find("broken.conf:3: key 'max_queues': 0 is out of range 1..1024"),
              std::string::npos)
        << r.error;
}

TEST(config, errors_in_an_included_file_name_that_file) {
    auto dir =
        std::filesystem::temp_directory_path() / ("nlb-inc-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "main.conf") << eal << "@include \"ports.conf\"\n";
    std::ofstream(dir / "ports.conf") << "ports = (\n  { vdev = \"net_null0\"; role = \"both\";\n"
                                         "    ipv4 = \"198.18.0.1/40\"; }\n);\n";
    config_result r = load_config((dir / "main.conf").string(), options());
    std::filesystem::remove_all(dir);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(
        r.error.rfind((dir / "ports.conf").string() + ":3: key 'ports.[0].ipv4': prefix length", 0),
        0u)
        << r.error;
}

TEST(config, values_with_control_bytes_still_give_one_line) {
    // Found by fuzz-config: a string value holding a newline made a two-line error.
    config_result r =
        load_config_string("eal = { lcores = \"0-1\nworkers\"; };\n", "x.conf", options());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error.find('\n'), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("'0-1\\nworkers'"), std::string::npos) << r.error;
    EXPECT_EQ(r.error.rfind("x.conf:1: key 'eal.lcores'", 0), 0u) << r.error;
}

TEST(config, missing_file_is_one_line) {
    config_result r = load_config("/nonexistent/nlb.conf", options());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error.rfind("/nonexistent/nlb.conf: cannot read file", 0), 0u) << r.error;
}

}  // namespace
