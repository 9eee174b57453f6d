/* SPDX-License-Identifier: Apache-2.0 */
/* Common helpers, load balancers, listeners, stats. */
#include "service.h"

#include "field_mask.h"
#include "validation.h"

#include <chrono>
#include <tuple>

namespace nlb::control {

namespace {

void require_id(const std::string &field, const std::string &value) {
    violations v;
    check_id(field, value, v);
    throw_if_invalid(std::move(v));
}

std::string q(const std::string &s) {
    return "\"" + s + "\"";
}

const char hex_digits[] = "0123456789abcdef";

}  // namespace

control_service::control_service(store &st, instance_status_source &health,
                                 std::function<int64_t()> now_unix)
    : store_(st), health_(health), now_unix_(std::move(now_unix)) {
    if (!now_unix_)
        now_unix_ = [] {
            return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
        };
}

api_error control_service::bounded(const api_error &e) {
    constexpr size_t max_text = 200, max_message = 2000;
    auto cut = [&](const std::string &t) {
        return t.size() <= max_text ? t
                                    : t.substr(0, max_text) + "... (" +
                                          std::to_string(t.size()) + " characters)";
    };
    if (e.fields.empty()) return api_error{e.code, cut(e.message), {}};
    if (e.message.size() <= max_message) return e;
    violations v;
    size_t size = 0;
    for (const auto &f : e.fields) {
        field_violation c{cut(f.field), cut(f.description)};
        size += c.field.size() + c.description.size() + 4;
        if (!v.empty() && size > max_message) break;
        v.push_back(std::move(c));
    }
    const size_t more = e.fields.size() - v.size();
    api_error out = invalid_argument(std::move(v));
    out.code = e.code;
    if (more > 0) out.message += "; and " + std::to_string(more) + " more violations";
    return out;
}

std::string control_service::page_token(const std::string &last_name) {
    std::string t = "n1.";
    for (unsigned char c : last_name) {
        t += hex_digits[c >> 4];
        t += hex_digits[c & 15];
    }
    return t;
}

std::string control_service::after_token(const std::string &token) {
    if (token.empty()) return "";
    auto bad = [&] {
        return invalid_argument("page_token", "value " + q(token) +
                                                  " is invalid: pass a next_page_token "
                                                  "returned by the previous call");
    };
    if (token.compare(0, 3, "n1.") != 0 || (token.size() - 3) % 2 != 0) throw bad();
    std::string out;
    for (size_t i = 3; i < token.size(); i += 2) {
        int v = 0;
        for (size_t j = i; j < i + 2; j++) {
            char c = token[j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) throw bad();
            v = v * 16 + d;
        }
        out += static_cast<char>(v);
    }
    return out;
}

v1::LoadBalancer control_service::must_lb(const std::string &name) {
    auto lb = store_.get_load_balancer(name);
    if (!lb) throw not_found("load balancer " + q(name) + " not found");
    return *lb;
}

v1::BackendService control_service::must_bs(const std::string &lb, const std::string &name) {
    auto bs = store_.get_backend_service(lb, name);
    if (!bs) throw not_found("backend service " + q(name) + " not found in load balancer " + q(lb));
    return *bs;
}

v1::ServerGroup control_service::must_sg(const std::string &name) {
    auto sg = store_.get_server_group(name);
    if (!sg) throw not_found("server group " + q(name) + " not found");
    return *sg;
}

void control_service::check_protocol_match(const v1::Listener &l, const v1::BackendService &bs) {
    if (l.protocol() != bs.protocol())
        throw failed_precondition("listener protocol " + v1::Protocol_Name(l.protocol()) +
                                  " does not match backend "
                                  "service " +
                                  q(bs.name()) + " protocol " + v1::Protocol_Name(bs.protocol()) +
                                  ": a " + v1::Protocol_Name(bs.protocol()) +
                                  " backend service can be associated "
                                  "only with a " +
                                  v1::Protocol_Name(bs.protocol()) + " listener (rule 1)");
}

void control_service::check_placement(const v1::LoadBalancer &lb, const v1::ServerGroup &sg) {
    if (lb.region() != sg.region() || lb.vpc() != sg.vpc() || lb.zone() != sg.zone())
        throw failed_precondition("server group " + q(sg.name()) + " is in region/vpc/zone " +
                                  sg.region() + "/" + sg.vpc() + "/" + sg.zone() +
                                  " but load balancer " + q(lb.name()) + " is in " + lb.region() +
                                  "/" + lb.vpc() + "/" + lb.zone() +
                                  ": instances must be in the "
                                  "load balancer's region, VPC and zone (rule 2)");
}

// ---------------------------------------------------------------- load balancers

grpc::Status control_service::CreateLoadBalancer(ctx *c, const v1::CreateLoadBalancerRequest *req,
                                                 v1::LoadBalancer *out) {
    return run_change(c, [&] {
        violations v;
        check_id("load_balancer_id", req->load_balancer_id(), v);
        auto more = validate_load_balancer(req->load_balancer(), "load_balancer");
        v.insert(v.end(), more.begin(), more.end());
        throw_if_invalid(std::move(v));
        v1::LoadBalancer lb = req->load_balancer();
        normalize_load_balancer(&lb);
        lb.set_name(req->load_balancer_id());
        store::transaction tx(store_);
        if (store_.get_load_balancer(lb.name()))
            throw already_exists("load balancer " + q(lb.name()) + " already exists");
        for (const auto &vip : lb.vips())
            if (auto owner = store_.vip_owner(vip))
                throw already_exists("VIP " + vip + " is already used by load balancer " +
                                     q(*owner));
        store_.put_load_balancer(lb, true);
        tx.commit();
        *out = lb;
    });
}

grpc::Status control_service::GetLoadBalancer(ctx *, const v1::GetLoadBalancerRequest *req,
                                              v1::LoadBalancer *out) {
    return run([&] {
        require_id("name", req->name());
        *out = must_lb(req->name());
    });
}

grpc::Status control_service::ListLoadBalancers(ctx *, const v1::ListLoadBalancersRequest *req,
                                                v1::ListLoadBalancersResponse *out) {
    return run([&] {
        violations v;
        int size = page_size_or_default(req->page_size(), v);
        throw_if_invalid(std::move(v));
        auto rows = store_.list_load_balancers(after_token(req->page_token()), size + 1);
        for (int i = 0; i < static_cast<int>(rows.size()) && i < size; i++)
            *out->add_load_balancers() = rows[i];
        if (static_cast<int>(rows.size()) > size)
            out->set_next_page_token(page_token(rows[size - 1].name()));
    });
}

grpc::Status control_service::UpdateLoadBalancer(ctx *c, const v1::UpdateLoadBalancerRequest *req,
                                                 v1::LoadBalancer *out) {
    return run_change(c, [&] {
        require_id("load_balancer.name", req->load_balancer().name());
        store::transaction tx(store_);
        const v1::LoadBalancer before = must_lb(req->load_balancer().name());
        v1::LoadBalancer lb = before;
        violations v;
        merge_masked(req->load_balancer(), req->update_mask(), {"vips", "region", "vpc", "zone"},
                     {"name"}, &lb, v);
        throw_if_invalid(std::move(v));
        for (auto [field, was, now] : {std::tuple{"region", before.region(), lb.region()},
                                       std::tuple{"vpc", before.vpc(), lb.vpc()},
                                       std::tuple{"zone", before.zone(), lb.zone()}})
            if (was != now)
                v.push_back({std::string("load_balancer.") + field,
                             "value " + q(now) + " differs from " + q(was) +
                                 ": the placement of a load balancer is immutable"});
        throw_if_invalid(std::move(v));
        throw_if_invalid(validate_load_balancer(lb, "load_balancer"));
        normalize_load_balancer(&lb);
        for (const auto &vip : lb.vips())
            if (auto owner = store_.vip_owner(vip); owner && *owner != lb.name())
                throw already_exists("VIP " + vip + " is already used by load balancer " +
                                     q(*owner));
        store_.put_load_balancer(lb, false);
        tx.commit();
        *out = lb;
    });
}

grpc::Status control_service::DeleteLoadBalancer(ctx *c, const v1::DeleteLoadBalancerRequest *req,
                                                 google::protobuf::Empty *) {
    return run_change(c, [&] {
        require_id("name", req->name());
        store::transaction tx(store_);
        must_lb(req->name());
        if (int n = store_.count_children(req->name()); n > 0)
            throw failed_precondition("load balancer " + q(req->name()) + " still has " +
                                      std::to_string(n) +
                                      " listeners and backend services: "
                                      "delete them first");
        store_.delete_load_balancer(req->name());
        tx.commit();
    });
}

// ---------------------------------------------------------------- listeners

grpc::Status control_service::CreateListener(ctx *c, const v1::CreateListenerRequest *req,
                                             v1::Listener *out) {
    return run_change(c, [&] {
        violations v;
        check_id("load_balancer", req->load_balancer(), v);
        check_id("listener_id", req->listener_id(), v);
        auto more = validate_listener(req->listener(), "listener");
        v.insert(v.end(), more.begin(), more.end());
        throw_if_invalid(std::move(v));
        v1::Listener l = req->listener();
        apply_listener_defaults(&l);
        l.set_name(req->listener_id());
        l.set_load_balancer(req->load_balancer());
        store::transaction tx(store_);
        must_lb(l.load_balancer());
        if (store_.get_listener(l.load_balancer(), l.name()))
            throw already_exists("listener " + q(l.name()) + " already exists in load balancer " +
                                 q(l.load_balancer()));
        check_protocol_match(l, must_bs(l.load_balancer(), l.backend_service()));
        if (auto other = store_.listener_on(l.load_balancer(), l.protocol(), l.port()))
            throw already_exists(
                "listener " + q(*other) + " already listens on " + v1::Protocol_Name(l.protocol()) +
                " port " + std::to_string(l.port()) + " of load balancer " + q(l.load_balancer()));
        store_.put_listener(l, true);
        tx.commit();
        *out = l;
    });
}

grpc::Status control_service::GetListener(ctx *, const v1::GetListenerRequest *req,
                                          v1::Listener *out) {
    return run([&] {
        require_id("load_balancer", req->load_balancer());
        require_id("name", req->name());
        auto l = store_.get_listener(req->load_balancer(), req->name());
        if (!l)
            throw not_found("listener " + q(req->name()) + " not found in load balancer " +
                            q(req->load_balancer()));
        *out = *l;
    });
}

grpc::Status control_service::ListListeners(ctx *, const v1::ListListenersRequest *req,
                                            v1::ListListenersResponse *out) {
    return run([&] {
        violations v;
        check_id("load_balancer", req->load_balancer(), v);
        int size = page_size_or_default(req->page_size(), v);
        throw_if_invalid(std::move(v));
        must_lb(req->load_balancer());
        auto rows =
            store_.list_listeners(req->load_balancer(), after_token(req->page_token()), size + 1);
        for (int i = 0; i < static_cast<int>(rows.size()) && i < size; i++)
            *out->add_listeners() = rows[i];
        if (static_cast<int>(rows.size()) > size)
            out->set_next_page_token(page_token(rows[size - 1].name()));
    });
}

grpc::Status control_service::UpdateListener(ctx *c, const v1::UpdateListenerRequest *req,
                                             v1::Listener *out) {
    return run_change(c, [&] {
        const auto &in = req->listener();
        require_id("listener.load_balancer", in.load_balancer());
        require_id("listener.name", in.name());
        store::transaction tx(store_);
        auto before = store_.get_listener(in.load_balancer(), in.name());
        if (!before)
            throw not_found("listener " + q(in.name()) + " not found in load balancer " +
                            q(in.load_balancer()));
        v1::Listener l = *before;
        violations v;
        merge_masked(in, req->update_mask(), {"protocol", "port", "mode", "backend_service"},
                     {"name", "load_balancer"}, &l, v);
        throw_if_invalid(std::move(v));
        if (l.protocol() == v1::PROTOCOL_UNSPECIFIED) l.set_protocol(before->protocol());
        if (l.port() == 0) l.set_port(before->port());
        if (l.protocol() != before->protocol())
            v.push_back({"listener.protocol",
                         "value " + v1::Protocol_Name(l.protocol()) + " differs from " +
                             v1::Protocol_Name(before->protocol()) + ": protocol is immutable"});
        if (l.port() != before->port())
            v.push_back({"listener.port", "value " + std::to_string(l.port()) + " differs from " +
                                              std::to_string(before->port()) +
                                              ": port is immutable"});
        throw_if_invalid(std::move(v));
        throw_if_invalid(validate_listener(l, "listener"));
        apply_listener_defaults(&l);
        check_protocol_match(l, must_bs(l.load_balancer(), l.backend_service()));
        store_.put_listener(l, false);
        tx.commit();
        *out = l;
    });
}

grpc::Status control_service::DeleteListener(ctx *c, const v1::DeleteListenerRequest *req,
                                             google::protobuf::Empty *) {
    return run_change(c, [&] {
        require_id("load_balancer", req->load_balancer());
        require_id("name", req->name());
        store::transaction tx(store_);
        if (!store_.get_listener(req->load_balancer(), req->name()))
            throw not_found("listener " + q(req->name()) + " not found in load balancer " +
                            q(req->load_balancer()));
        store_.delete_listener(req->load_balancer(), req->name());
        tx.commit();
    });
}

// ---------------------------------------------------------------- stats

grpc::Status control_service::GetStats(ctx *, const v1::GetStatsRequest *req, v1::Stats *) {
    auto st = run([&] {
        if (!req->load_balancer().empty()) must_lb(req->load_balancer());
    });
    if (!st.ok()) return st;
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no dataplane connected");
}

grpc::Status control_service::ListConnections(ctx *, const v1::ListConnectionsRequest *req,
                                              v1::ListConnectionsResponse *) {
    auto st = run([&] {
        violations v;
        if (req->limit() != 0) check_range("limit", req->limit(), 1, 10000, v);
        throw_if_invalid(std::move(v));
        if (!req->load_balancer().empty()) must_lb(req->load_balancer());
    });
    if (!st.ok()) return st;
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no dataplane connected");
}

}  // namespace nlb::control
