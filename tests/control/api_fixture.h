/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared fixture of the API tests: one real nlb-control per test suite, and
 * helpers that build valid resources with unique names and VIPs.
 */
#pragma once

#include "daemon.h"

#include <gtest/gtest.h>

#include <string>

namespace nlb::test {

class api_test : public ::testing::Test {
  protected:
    static void SetUpTestSuite();
    static void TearDownTestSuite();

    static std::string unique(const std::string &prefix);

    template <class Req, class Resp>
    static grpc::Status call(grpc::Status (v1::LoadBalancing::Stub::*m)(grpc::ClientContext *,
                                                                        const Req &, Resp *),
                             const Req &req, Resp *resp) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        return ((*stub_).*m)(&ctx, req, resp);
    }

    /** Creates a load balancer in r1/v1/z1 (or the given zone) with a fresh VIP. */
    static std::string make_lb(const std::string &zone = "z1");
    /** Creates a virtual group in r1/v1/`zone` with instances a (port 8080) and b. */
    static std::string make_group(const std::string &zone = "z1",
                                  v1::ServerGroupType type = v1::VIRTUAL);
    /** Creates a backend service on port 80 with the given group (may be ""). */
    static grpc::Status make_bs(const std::string &lb, const std::string &name,
                                const std::string &group, v1::BackendService *out = nullptr);

    /** The field names in the BadRequest details of an INVALID_ARGUMENT status. */
    static std::vector<std::string> violation_fields(const grpc::Status &st);

    static temp_dir *dir_;
    static control_daemon *daemon_;
    static std::unique_ptr<v1::LoadBalancing::Stub> stub_;
};

}  // namespace nlb::test
