/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlb-agent: a small command-line client of nlb-dataplane's agent API
 * (nlb.dataplane.v1) for the lab tests and the demo, until nlb-control drives
 * the dataplane. Every answer is printed as JSON on stdout; a failed call
 * prints "nlb-agent: CODE (n): message" on stderr and exits 1.
 *
 *   nlb-agent [--socket PATH] put-service --vip 198.18.1.1 --port 80 --proto tcp --mode nat
 *       --scheduler wrr --version 1 --backend id=1,addr=198.19.0.11,port=8080,weight=10
 *   nlb-agent delete-service --vip 198.18.1.1 --port 80 --proto tcp --version 2
 *   nlb-agent list-services | purge-backend --id 1 | stats [--per-lcore] | conns | info
 */
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "dataplane.grpc.pb.h"

namespace v1 = nlb::dataplane::v1;

namespace {

const char *code_name(grpc::StatusCode c) {
    switch (c) {
        case grpc::StatusCode::OK:
            return "OK";
        case grpc::StatusCode::CANCELLED:
            return "CANCELLED";
        case grpc::StatusCode::INVALID_ARGUMENT:
            return "INVALID_ARGUMENT";
        case grpc::StatusCode::DEADLINE_EXCEEDED:
            return "DEADLINE_EXCEEDED";
        case grpc::StatusCode::NOT_FOUND:
            return "NOT_FOUND";
        case grpc::StatusCode::FAILED_PRECONDITION:
            return "FAILED_PRECONDITION";
        case grpc::StatusCode::UNAVAILABLE:
            return "UNAVAILABLE";
        case grpc::StatusCode::INTERNAL:
            return "INTERNAL";
        case grpc::StatusCode::UNIMPLEMENTED:
            return "UNIMPLEMENTED";
        default:
            return "ERROR";
    }
}

struct key_flags {
    std::string vip, proto = "tcp";
    uint32_t port = 0;
    void add(CLI::App *app, bool required) {
        auto *v = app->add_option("--vip", vip, "VIP address");
        auto *p = app->add_option("--port", port, "VIP port");
        app->add_option("--proto", proto, "tcp or udp")->check(CLI::IsMember({"tcp", "udp"}));
        if (required) {
            v->required();
            p->required();
        }
    }
    void to_proto(v1::ServiceKey *k) const {
        k->set_vip(vip);
        k->set_port(port);
        k->set_protocol(proto == "udp" ? v1::UDP : v1::TCP);
    }
};

/** "id=1,addr=198.19.0.11,port=8080,weight=10,state=active" -> Backend; throws
 * CLI::ValidationError. */
v1::Backend parse_backend(const std::string &text) {
    v1::Backend b;
    b.set_weight(1);
    b.set_state(v1::ACTIVE);
    std::map<std::string, std::string> kv;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        auto eq = item.find('=');
        if (eq == std::string::npos)
            throw CLI::ValidationError("--backend", "'" + item + "' is not key=value");
        kv[item.substr(0, eq)] = item.substr(eq + 1);
    }
    auto number = [&](const std::string &k) -> uint64_t {
        try {
            size_t used = 0;
            uint64_t v = std::stoull(kv[k], &used);
            if (used != kv[k].size()) throw std::invalid_argument(k);
            return v;
        } catch (const std::exception &) {
            throw CLI::ValidationError("--backend", k + "='" + kv[k] + "' is not a number");
        }
    };
    for (const auto &[k, v] : kv) {
        if (k == "id")
            b.set_id(number(k));
        else if (k == "addr" || k == "address")
            b.set_address(v);
        else if (k == "port")
            b.set_port(static_cast<uint32_t>(number(k)));
        else if (k == "weight")
            b.set_weight(static_cast<uint32_t>(number(k)));
        else if (k == "state") {
            if (v == "active")
                b.set_state(v1::ACTIVE);
            else if (v == "draining")
                b.set_state(v1::DRAINING);
            else
                throw CLI::ValidationError("--backend", "state must be active or draining");
        } else
            throw CLI::ValidationError("--backend",
                                       "unknown key '" + k + "' (id, addr, port, weight, state)");
    }
    return b;
}

int print(const google::protobuf::Message &m) {
    std::string out;
    google::protobuf::util::JsonPrintOptions o;
    o.add_whitespace = true;
    o.always_print_primitive_fields = true;
    o.preserve_proto_field_names = true;
    if (!google::protobuf::util::MessageToJsonString(m, &out, o).ok()) return 1;
    std::fputs(out.c_str(), stdout);
    if (out.empty() || out.back() != '\n') std::fputc('\n', stdout);
    return 0;
}

int check(const grpc::Status &st) {
    if (st.ok()) return 0;
    std::fprintf(stderr, "nlb-agent: %s (%d): %s\n", code_name(st.error_code()),
                 static_cast<int>(st.error_code()), st.error_message().c_str());
    return 1;
}

}  // namespace

int main(int argc, char **argv) {
    CLI::App app{"nlb-agent: client of nlb-dataplane's agent API (nlb.dataplane.v1)"};
    app.require_subcommand(1);
    std::string socket = "/run/nlb/dataplane.sock";
    double timeout_s = 10;
    app.add_option("--socket", socket, "agent unix socket")->capture_default_str();
    app.add_option("--timeout", timeout_s, "seconds to wait for an answer")->capture_default_str();

    // put-service
    auto *put = app.add_subcommand("put-service", "create or replace one service");
    key_flags put_key;
    put_key.add(put, true);
    std::string mode = "nat", sched = "wrr";
    uint32_t persistence = 0;
    uint64_t put_version = 0;
    bool fail_open = false;
    std::vector<std::string> backends;
    put->add_option("--mode", mode, "nat, dsr or tunnel")
        ->check(CLI::IsMember({"nat", "dsr", "tunnel"}));
    put->add_option("--scheduler", sched, "wrr, wlc or source_ip")
        ->check(CLI::IsMember({"wrr", "wlc", "source_ip"}));
    put->add_option("--persistence", persistence, "source-IP persistence timeout in s (0 = off)");
    put->add_option("--version", put_version, "version of this change (> 0)")->required();
    put->add_flag("--fail-open", fail_open, "report the service as failing open");
    put->add_option("--backend", backends,
                    "id=N,addr=A,port=P,weight=W,state=active|draining (repeat)");

    auto *del = app.add_subcommand("delete-service", "remove one service");
    key_flags del_key;
    del_key.add(del, true);
    uint64_t del_version = 0;
    del->add_option("--version", del_version, "version of this change (> 0)")->required();

    auto *list = app.add_subcommand("list-services", "every service held, with versions");

    auto *purge = app.add_subcommand("purge-backend", "reset and forget a backend's connections");
    key_flags purge_key;
    purge_key.add(purge, false);
    uint64_t purge_id = 0;
    purge->add_option("--id", purge_id, "backend id")->required();

    auto *stats = app.add_subcommand("stats", "counters (JSON)");
    bool per_lcore = false;
    stats->add_flag("--per-lcore", per_lcore, "also per lcore");

    auto *conns = app.add_subcommand("conns", "the connection table, page by page");
    key_flags conns_key;
    conns_key.add(conns, false);
    uint64_t conns_backend = 0;
    uint32_t page_size = 0;
    std::string page_token;
    conns->add_option("--backend-id", conns_backend, "only this backend's connections");
    conns->add_option("--page-size", page_size, "1-10000 (default 1000)");
    conns->add_option("--page-token", page_token, "from the previous page");

    auto *info = app.add_subcommand("info", "what the dataplane is");

    CLI11_PARSE(app, argc, argv);

    auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
    auto stub = v1::Dataplane::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));

    try {
        if (*put) {
            v1::PutServiceRequest req;
            v1::Service *s = req.mutable_service();
            put_key.to_proto(s->mutable_key());
            s->set_mode(mode == "dsr" ? v1::DSR : mode == "tunnel" ? v1::TUNNEL : v1::NAT);
            s->set_scheduler(sched == "wlc"         ? v1::WLC
                             : sched == "source_ip" ? v1::SOURCE_IP
                                                    : v1::WRR);
            s->set_persistence_timeout_s(persistence);
            s->set_fail_open(fail_open);
            for (const std::string &b : backends) *s->add_backends() = parse_backend(b);
            req.set_version(put_version);
            v1::PutServiceResponse resp;
            if (int rc = check(stub->PutService(&ctx, req, &resp))) return rc;
            return print(resp);
        }
        if (*del) {
            v1::DeleteServiceRequest req;
            del_key.to_proto(req.mutable_key());
            req.set_version(del_version);
            v1::DeleteServiceResponse resp;
            if (int rc = check(stub->DeleteService(&ctx, req, &resp))) return rc;
            return print(resp);
        }
        if (*list) {
            v1::ListServicesResponse resp;
            if (int rc = check(stub->ListServices(&ctx, v1::ListServicesRequest{}, &resp)))
                return rc;
            return print(resp);
        }
        if (*purge) {
            v1::PurgeBackendRequest req;
            req.set_backend_id(purge_id);
            if (!purge_key.vip.empty()) purge_key.to_proto(req.mutable_service());
            v1::PurgeBackendResponse resp;
            if (int rc = check(stub->PurgeBackend(&ctx, req, &resp))) return rc;
            return print(resp);
        }
        if (*stats) {
            v1::GetStatsRequest req;
            req.set_per_lcore(per_lcore);
            v1::GetStatsResponse resp;
            if (int rc = check(stub->GetStats(&ctx, req, &resp))) return rc;
            return print(resp);
        }
        if (*conns) {
            v1::ListConnectionsRequest req;
            if (!conns_key.vip.empty()) conns_key.to_proto(req.mutable_service());
            req.set_backend_id(conns_backend);
            req.set_page_size(page_size);
            req.set_page_token(page_token);
            v1::ListConnectionsResponse resp;
            if (int rc = check(stub->ListConnections(&ctx, req, &resp))) return rc;
            return print(resp);
        }
        if (*info) {
            v1::GetInfoResponse resp;
            if (int rc = check(stub->GetInfo(&ctx, v1::GetInfoRequest{}, &resp))) return rc;
            return print(resp);
        }
    } catch (const CLI::Error &e) {
        return app.exit(e);
    }
    return 2;
}
