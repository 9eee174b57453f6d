/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API under load (issue 7): 200 concurrent clients (each its own gRPC
 * connection to the real nlb-control, rate limit off) loop create / update /
 * add and remove instances / delete on their own server groups, and contend
 * on a few shared ones, for NLB_API_LOAD_SECONDS (default 15; the README's
 * long run uses 60). Checks:
 *  - no error but the expected ones: none at all on a client's own objects;
 *    on the shared ones only ALREADY_EXISTS, NOT_FOUND, FAILED_PRECONDITION
 *    or ABORTED (every call has a 30 s deadline: DEADLINE_EXCEEDED would mean
 *    a stall);
 *  - no deadlock: every client finishes within the run time plus 60 s;
 *  - the state afterwards is exactly what the clients know they made (their
 *    own groups and instances; the shared groups well-formed), and SQLite's
 *    PRAGMA integrity_check is "ok".
 * Prints calls/s and the errors by code (figures for README "Reliability").
 */
#include "daemon.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace nlb::test {
namespace {

using lbs = v1::LoadBalancing::Stub;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr int shared_groups = 4;

int env_int(const char *name, int fallback) {
    const char *v = std::getenv(name);
    return v && *v ? std::atoi(v) : fallback;
}

v1::Instance instance(const std::string &id, int n) {
    v1::Instance in;
    in.set_id(id);
    in.set_address("198.18." + std::to_string(n / 250 % 250) + "." + std::to_string(n % 250 + 1));
    in.set_port(8000 + n % 1000);
    return in;
}

v1::CreateServerGroupRequest group(const std::string &name, int n) {
    v1::CreateServerGroupRequest q;
    q.set_server_group_id(name);
    auto *g = q.mutable_server_group();
    g->set_type(v1::VIRTUAL);
    g->set_region("r1");
    g->set_vpc("v1");
    g->set_zone("z1");
    *g->add_instances() = instance("a", n);
    *g->add_instances() = instance("b", n + 1);
    return q;
}

/** What one client made, and what its calls answered. */
struct client_result {
    std::map<std::string, std::set<std::string>> own;  // group -> instance ids
    std::map<int, int> codes;                           // status code -> count
    std::map<int, int> unexpected;                      // status code -> count
    std::string first_unexpected;
    int calls = 0;
    clock_type::duration max_latency{};
};

class client {
  public:
    client(int id, const std::string &address, clock_type::time_point until)
        : id_(id), base_(1000 + id * 1000), until_(until),
          rng_(static_cast<unsigned>(id) * 7919u + 1) {
        grpc::ChannelArguments args;
        args.SetInt("grpc.use_local_subchannel_pool", 1);  // a connection of its own
        stub_ = v1::LoadBalancing::NewStub(
            grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
    }

    client_result run() {
        int seq = 0;
        while (clock_type::now() < until_) {
            int op = static_cast<int>(rng_() % 10);
            if (op < 6)
                own_step(seq);
            else
                shared_step();
        }
        return std::move(r_);
    }

  private:
    template <class Req, class Resp>
    grpc::Status call(grpc::Status (lbs::*m)(grpc::ClientContext *, const Req &, Resp *),
                      const Req &req, bool contended) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 30s);
        Resp resp;
        auto t0 = clock_type::now();
        auto st = ((*stub_).*m)(&ctx, req, &resp);
        r_.max_latency = std::max(r_.max_latency, clock_type::now() - t0);
        r_.calls++;
        r_.codes[st.error_code()]++;
        using c = grpc::StatusCode;
        bool expected =
            st.ok() || (contended && (st.error_code() == c::ALREADY_EXISTS ||
                                      st.error_code() == c::NOT_FOUND ||
                                      st.error_code() == c::FAILED_PRECONDITION ||
                                      st.error_code() == c::ABORTED));
        if (!expected) {
            r_.unexpected[st.error_code()]++;
            if (r_.first_unexpected.empty())
                r_.first_unexpected = "client " + std::to_string(id_) + ": code " +
                                      std::to_string(st.error_code()) + ": " +
                                      st.error_message();
        }
        return st;
    }

    /** Create, update, add/remove instances, delete on this client's own groups. */
    void own_step(int &seq) {
        auto pick = [&]() -> std::string {
            auto it = r_.own.begin();
            std::advance(it, rng_() % r_.own.size());
            return it->first;
        };
        int op = static_cast<int>(rng_() % 5);
        if (r_.own.size() < 2 || (op == 0 && r_.own.size() < 6)) {
            std::string name = "c" + std::to_string(id_) + "-g" + std::to_string(seq++);
            if (call(&lbs::CreateServerGroup, group(name, base_), false).ok())
                r_.own[name] = {"a", "b"};
        } else if (op == 1) {
            std::string name = pick();
            v1::UpdateServerGroupRequest q;
            auto *g = q.mutable_server_group();
            g->set_name(name);
            *g->add_instances() = instance("a", base_);
            *g->add_instances() = instance("u" + std::to_string(seq), base_ + 2 + seq);
            seq++;
            q.mutable_update_mask()->add_paths("instances");
            if (call(&lbs::UpdateServerGroup, q, false).ok())
                r_.own[name] = {"a", g->instances(1).id()};
        } else if (op == 2) {
            std::string name = pick();
            v1::AddInstancesRequest q;
            q.set_server_group(name);
            std::string id = "x" + std::to_string(seq);
            *q.add_instances() = instance(id, base_ + 2 + seq);
            seq++;
            if (call(&lbs::AddInstances, q, false).ok()) r_.own[name].insert(id);
        } else if (op == 3) {
            std::string name = pick();
            auto &ids = r_.own[name];
            if (ids.size() < 2) return;
            v1::RemoveInstancesRequest q;
            q.set_server_group(name);
            q.add_instance_ids(*ids.rbegin());
            if (call(&lbs::RemoveInstances, q, false).ok()) ids.erase(*ids.rbegin());
        } else {
            std::string name = pick();
            v1::DeleteServerGroupRequest q;
            q.set_name(name);
            if (call(&lbs::DeleteServerGroup, q, false).ok()) r_.own.erase(name);
        }
    }

    /** Every client races on the same few groups: expected conflicts only. */
    void shared_step() {
        std::string name = "shared-" + std::to_string(rng_() % shared_groups);
        std::string mine = "c" + std::to_string(id_);
        switch (rng_() % 4) {
        case 0:
            call(&lbs::CreateServerGroup, group(name, 500), true);
            break;
        case 1: {
            v1::DeleteServerGroupRequest q;
            q.set_name(name);
            call(&lbs::DeleteServerGroup, q, true);
            break;
        }
        case 2: {
            v1::AddInstancesRequest q;
            q.set_server_group(name);
            *q.add_instances() = instance(mine, id_);
            call(&lbs::AddInstances, q, true);
            break;
        }
        default: {
            v1::RemoveInstancesRequest q;
            q.set_server_group(name);
            q.add_instance_ids(mine);
            call(&lbs::RemoveInstances, q, true);
            break;
        }
        }
    }

    int id_;
    int base_;  // instance numbers (addresses, ports) of this client's own groups start here
    clock_type::time_point until_;
    std::mt19937 rng_;
    std::unique_ptr<lbs> stub_;
    client_result r_;
};

std::string sql_text(const std::string &db_path, const std::string &sql) {
    sqlite3 *db = nullptr;
    std::string out;
    if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_exec(
            db, sql.c_str(),
            [](void *p, int n, char **v, char **) {
                for (int i = 0; i < n; i++) *static_cast<std::string *>(p) += v[i] ? v[i] : "";
                *static_cast<std::string *>(p) += "\n";
                return 0;
            },
            &out, nullptr);
    }
    sqlite3_close(db);
    return out;
}

TEST(api_load, concurrent_clients_change_state_consistently) {
    const int clients = env_int("NLB_API_LOAD_CLIENTS", 200);
    const int seconds = env_int("NLB_API_LOAD_SECONDS", 15);
    temp_dir dir;
    control_daemon d(dir.path(), {"--rate-limit", "0"});
    ASSERT_TRUE(d.start());

    const auto t0 = clock_type::now();
    const auto until = t0 + std::chrono::seconds(seconds);
    std::vector<client_result> results(clients);
    std::atomic<int> finished{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; i++)
        threads.emplace_back([&, i] {
            client c(i, d.address(), until);
            results[i] = c.run();
            finished++;
        });
    // No deadlock: everyone is back within the run time plus the longest call deadline and
    // some slack; otherwise fail (and kill the daemon so that the threads return).
    const auto bound = until + 60s;
    while (finished < clients && clock_type::now() < bound) std::this_thread::sleep_for(100ms);
    const bool all_back = finished == clients;
    if (!all_back) d.kill9();
    for (auto &t : threads) t.join();
    ASSERT_TRUE(all_back) << (clients - finished) << " clients still blocked 60 s after the end";
    const double elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();

    std::map<int, int> codes, unexpected;
    int calls = 0;
    clock_type::duration max_latency{};
    std::string first;
    for (const auto &r : results) {
        calls += r.calls;
        max_latency = std::max(max_latency, r.max_latency);
        for (auto [c, n] : r.codes) codes[c] += n;
        for (auto [c, n] : r.unexpected) unexpected[c] += n;
        if (first.empty()) first = r.first_unexpected;
    }
    std::printf("api load: %d clients, %.1f s, %d calls, %.0f calls/s; by code:", clients,
                elapsed, calls, calls / elapsed);
    for (auto [c, n] : codes) std::printf(" %d=%d", c, n);
    std::printf("; slowest call %.2f s\n", std::chrono::duration<double>(max_latency).count());
    EXPECT_TRUE(unexpected.empty()) << "unexpected errors, first: " << first;
    EXPECT_GT(codes[0], clients) << "hardly any call succeeded";

    // The state is what the clients know they made.
    auto stub = d.stub();
    std::map<std::string, std::set<std::string>> listed;
    v1::ListServerGroupsRequest q;
    q.set_page_size(1000);
    do {
        v1::ListServerGroupsResponse r;
        grpc::ClientContext ctx;
        auto st = stub->ListServerGroups(&ctx, q, &r);
        ASSERT_TRUE(st.ok()) << st.error_message();
        for (const auto &g : r.server_groups()) {
            auto &ids = listed[g.name()];
            for (const auto &in : g.instances())
                EXPECT_TRUE(ids.insert(in.id()).second) << g.name() << ": " << in.id() << " twice";
        }
        q.set_page_token(r.next_page_token());
    } while (!q.page_token().empty());
    std::map<std::string, std::set<std::string>> known;
    for (const auto &r : results) known.insert(r.own.begin(), r.own.end());
    size_t shared_seen = 0;
    for (const auto &[name, ids] : listed) {
        if (name.rfind("shared-", 0) == 0) {
            shared_seen++;
            continue;
        }
        auto it = known.find(name);
        if (it == known.end()) {
            ADD_FAILURE() << "group " << name << " exists but no client has it";
            continue;
        }
        EXPECT_EQ(ids, it->second) << "instances of " << name;
    }
    for (const auto &[name, ids] : known)
        EXPECT_TRUE(listed.count(name)) << "group " << name << " was acknowledged but is gone";
    EXPECT_LE(shared_seen, static_cast<size_t>(shared_groups));
    std::printf("api load: %zu groups afterwards (%zu own, %zu shared)\n", listed.size(),
                known.size(), shared_seen);

    EXPECT_EQ(d.stop(), 0);
    EXPECT_EQ(sql_text(d.state_path(), "PRAGMA integrity_check"), "ok\n");
}

}  // namespace
}  // namespace nlb::test
