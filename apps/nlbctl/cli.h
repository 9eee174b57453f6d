/* SPDX-License-Identifier: Apache-2.0 */
/*
 * State shared by the nlbctl sub-command files: the parsed options, the
 * stub, and the action the chosen verb will run. Single-threaded.
 */
#pragma once

#include "nlb.grpc.pb.h"
#include "output.h"

#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace nlbctl {

namespace v1 = nlb::v1;

struct options {
    std::string server;
    std::string tls_ca, tls_cert, tls_key, tls_server_name;
    std::string output = "table";
    std::string name, lb, region, vpc, zone, type, protocol, mode, bs, sg, scheduler;
    std::string persistence, hc_method, hc_codes, hc_path, page_token, associable_lb;
    std::string associable_bs;
    std::vector<std::string> vips, instances, instance_ids;
    int port = 0, drain = 0, hc_port = 0, hc_timeout = 0, hc_interval = 0, hc_unhealthy = 0,
        hc_healthy = 0, page_size = 0, limit = 0;
};

extern options o;
extern std::unique_ptr<v1::LoadBalancing::Stub> stub;
/** Set by the chosen verb's callback; run by main after parsing. */
extern std::function<int()> action;

/** True when `flag` was given on the command line. */
bool given(const std::string &flag);

/** Calls one unary method and prints its answer or its error; returns the exit status. */
template <class Req, class Resp>
int call(grpc::Status (v1::LoadBalancing::Stub::*method)(grpc::ClientContext *, const Req &,
                                                         Resp *),
         const Req &req) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    Resp resp;
    auto st = ((*stub).*method)(&ctx, req, &resp);
    if (!st.ok()) return print_error(st);
    print(resp, o.output == "json" ? format::json : format::table);
    return 0;
}

/** Adds --page-size/--page-token to a list verb. */
void add_paging(CLI::App *c);
/** Parses "id=ID,ip=ADDR[,port=P][,weight=W]"; throws CLI::ValidationError. */
v1::Instance parse_instance(const std::string &spec);

void lb_commands(CLI::App &app);
void listener_commands(CLI::App &app);
void backend_service_commands(CLI::App &app);
void server_group_commands(CLI::App &app);

}  // namespace nlbctl
