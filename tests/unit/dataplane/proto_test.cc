/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlb.dataplane.v1 as generated C++: a full PutService request survives the
 * wire, stats carry drops as name -> count, and the service has the
 * documented methods (a consumer of nlb_dataplane_proto_dep compiles).
 */
#include <gtest/gtest.h>

#include <string>

#include "dataplane.grpc.pb.h"
#include "dataplane.pb.h"

namespace v1 = nlb::dataplane::v1;

namespace {

TEST(dataplane_proto, put_service_round_trips) {
    v1::PutServiceRequest req;
    req.set_version(42);
    v1::Service *svc = req.mutable_service();
    svc->mutable_key()->set_vip("198.18.1.1");
    svc->mutable_key()->set_port(80);
    svc->mutable_key()->set_protocol(v1::TCP);
    svc->set_mode(v1::DSR);
    svc->set_scheduler(v1::SOURCE_IP);
    svc->set_persistence_timeout_s(1440);
    for (uint64_t id : {11u, 12u}) {
        v1::Backend *b = svc->add_backends();
        b->set_id(id);
        b->set_address("198.19.0." + std::to_string(id));
        b->set_port(80);
        b->set_weight(10);
        b->set_state(id == 12 ? v1::DRAINING : v1::ACTIVE);
    }
    std::string wire;
    ASSERT_TRUE(req.SerializeToString(&wire));
    v1::PutServiceRequest back;
    ASSERT_TRUE(back.ParseFromString(wire));
    EXPECT_EQ(back.version(), 42u);
    EXPECT_EQ(back.service().key().vip(), "198.18.1.1");
    EXPECT_EQ(back.service().mode(), v1::DSR);
    ASSERT_EQ(back.service().backends_size(), 2);
    EXPECT_EQ(back.service().backends(1).id(), 12u);
    EXPECT_EQ(back.service().backends(1).state(), v1::DRAINING);
}

TEST(dataplane_proto, drops_are_named_counters) {
    v1::Counters c;
    (*c.mutable_drops())["no_backend"] = 3;
    (*c.mutable_drops())["ttl_exceeded"] = 1;
    std::string wire;
    ASSERT_TRUE(c.SerializeToString(&wire));
    v1::Counters back;
    ASSERT_TRUE(back.ParseFromString(wire));
    EXPECT_EQ(back.drops().at("no_backend"), 3u);
    EXPECT_EQ(back.drops().size(), 2u);
}

TEST(dataplane_proto, service_has_the_agent_methods) {
    EXPECT_STREQ(v1::Dataplane::service_full_name(), "nlb.dataplane.v1.Dataplane");
    const auto *svc = v1::PutServiceRequest::descriptor()->file()->FindServiceByName("Dataplane");
    ASSERT_NE(svc, nullptr);
    for (const char *m : {"GetInfo", "PutService", "DeleteService", "ListServices", "PurgeBackend",
                          "GetStats", "ListConnections"})
        EXPECT_NE(svc->FindMethodByName(m), nullptr) << m;
}

}  // namespace
