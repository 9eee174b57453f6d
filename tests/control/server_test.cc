/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server around the API: stats without a dataplane, the standard
 * grpc.health.v1 service, server reflection and the unix socket's mode.
 */
#include <grpcpp/generic/generic_stub.h>
#include <sys/stat.h>

#include <future>

#include "api_fixture.h"

namespace nlb::test {
namespace {

using lbs = v1::LoadBalancing::Stub;

TEST_F(api_test, stats_need_a_dataplane) {
    v1::GetStatsRequest q;
    v1::Stats s;
    auto st = call(&lbs::GetStats, q, &s);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(st.error_message(), "no dataplane connected");
    v1::ListConnectionsRequest c;
    v1::ListConnectionsResponse r;
    EXPECT_EQ(call(&lbs::ListConnections, c, &r).error_code(), grpc::StatusCode::UNAVAILABLE);
    for (int limit : {0, 1, 10000}) {
        c.set_limit(limit);
        EXPECT_EQ(call(&lbs::ListConnections, c, &r).error_code(), grpc::StatusCode::UNAVAILABLE)
            << limit;
    }
    for (int limit : {-1, 10001}) {
        c.set_limit(limit);
        auto bad = call(&lbs::ListConnections, c, &r);
        EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << limit;
        EXPECT_NE(bad.error_message().find("limit"), std::string::npos);
    }
    q.set_load_balancer("no-such-lb");
    EXPECT_EQ(call(&lbs::GetStats, q, &s).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(api_test, health_service_reports_serving) {
    grpc::GenericStub generic(daemon_->channel());
    for (const std::string service : {"", "nlb.v1.LoadBalancing"}) {
        // grpc.health.v1.HealthCheckRequest { string service = 1; }
        std::string req;
        if (!service.empty())
            req = std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
        grpc::Slice slice(req);
        grpc::ByteBuffer in(&slice, 1), out;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        std::promise<grpc::Status> done;
        generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &in, &out,
                          [&](grpc::Status s) { done.set_value(s); });
        auto st = done.get_future().get();
        ASSERT_TRUE(st.ok()) << service << ": " << st.error_message();
        std::vector<grpc::Slice> slices;
        ASSERT_TRUE(out.Dump(&slices).ok());
        std::string bytes;
        for (auto &s : slices)
            bytes += std::string(reinterpret_cast<const char *>(s.begin()), s.size());
        EXPECT_EQ(bytes, std::string("\x08\x01", 2)) << service;  // status: SERVING
    }
}

TEST_F(api_test, reflection_lists_the_api) {
    // grpc.reflection.v1alpha.ServerReflectionRequest { list_services = 7: "" }
    grpc::GenericStub generic(daemon_->channel());
    grpc::CompletionQueue cq;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto call = generic.PrepareCall(
        &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
    void *tag;
    bool ok;
    auto step = [&](intptr_t want) {
        EXPECT_TRUE(cq.Next(&tag, &ok));
        EXPECT_EQ(reinterpret_cast<intptr_t>(tag), want);
        return ok;
    };
    call->StartCall(reinterpret_cast<void *>(1));
    ASSERT_TRUE(step(1));
    std::string req("\x3a\x00", 2);
    grpc::Slice slice(req);
    grpc::ByteBuffer in(&slice, 1), out;
    call->Write(in, reinterpret_cast<void *>(2));
    ASSERT_TRUE(step(2));
    call->Read(&out, reinterpret_cast<void *>(3));
    ASSERT_TRUE(step(3));
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(out.Dump(&slices).ok());
    std::string bytes;
    for (auto &s : slices)
        bytes += std::string(reinterpret_cast<const char *>(s.begin()), s.size());
    EXPECT_NE(bytes.find("nlb.v1.LoadBalancing"), std::string::npos);
    EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
    call->WritesDone(reinterpret_cast<void *>(4));
    step(4);
    grpc::Status st;
    call->Finish(&st, reinterpret_cast<void *>(5));
    step(5);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
}

TEST_F(api_test, socket_mode_is_0660) {
    struct stat sb;
    ASSERT_EQ(stat((dir_->path() + "/control.sock").c_str(), &sb), 0);
    EXPECT_TRUE(S_ISSOCK(sb.st_mode));
    EXPECT_EQ(sb.st_mode & 0777, 0660u);
}

}  // namespace
}  // namespace nlb::test
