/* SPDX-License-Identifier: Apache-2.0 */
/* Server groups: CRUD, instances, the associable filter (rule 2) and the group view. */
#include "field_mask.h"
#include "service.h"
#include "validation.h"

#include <set>
#include <tuple>

namespace nlb::control {

namespace {

std::string q(const std::string &s) {
    return "\"" + s + "\"";
}

void require_id(const std::string &field, const std::string &value) {
    violations v;
    check_id(field, value, v);
    throw_if_invalid(std::move(v));
}

/**
 * Refuses a request with more instances than a group may hold before looking
 * at any of them (so 100 000 instances cost no per-instance work or error text).
 */
void too_many_instances(const std::string &field, int count) {
    if (count > max_instances)
        throw invalid_argument(field, std::to_string(count) + " instances given: a server group " +
                                          "holds at most " + std::to_string(max_instances) +
                                          " instances");
}

bool has_id(const v1::ServerGroup &sg, const std::string &id) {
    for (const auto &in : sg.instances())
        if (in.id() == id) return true;
    return false;
}

}  // namespace

void control_service::instances_left(const v1::ServerGroup &sg,
                                     const std::vector<v1::Instance> &gone,
                                     const std::vector<v1::Instance> &joined) {
    for (const auto &bs : store_.backend_services_using(sg.name())) {
        for (const auto &in : gone) drain(bs, sg.type(), in);
        for (const auto &in : joined)
            store_.remove_draining(bs.load_balancer(), bs.name(), in.id());
    }
}

grpc::Status control_service::CreateServerGroup(ctx *c, const v1::CreateServerGroupRequest *req,
                                                v1::ServerGroup *out) {
    return run_change(c, [&] {
        too_many_instances("server_group.instances", req->server_group().instances_size());
        violations v;
        check_id("server_group_id", req->server_group_id(), v);
        auto more = validate_server_group(req->server_group(), "server_group");
        v.insert(v.end(), more.begin(), more.end());
        throw_if_invalid(std::move(v));
        v1::ServerGroup sg = req->server_group();
        sg.set_name(req->server_group_id());
        for (auto &in : *sg.mutable_instances()) apply_instance_defaults(&in);
        store::transaction tx(store_);
        if (store_.get_server_group(sg.name()))
            throw already_exists("server group " + q(sg.name()) + " already exists");
        store_.put_server_group(sg, true);
        tx.commit();
        *out = sg;
    });
}

grpc::Status control_service::GetServerGroup(ctx *, const v1::GetServerGroupRequest *req,
                                             v1::ServerGroupView *out) {
    return run([&] {
        require_id("name", req->name());
        const auto sg = must_sg(req->name());
        *out->mutable_server_group() = sg;
        auto users = store_.backend_services_using(sg.name());
        for (const auto &bs : users)
            out->add_backend_services(bs.load_balancer() + "/" + bs.name());
        for (const auto &in : sg.instances()) {
            if (!users.empty()) {
                // Shared groups report the status seen by their first backend service;
                // GetBackendServiceHealth gives the per-service view.
                *out->add_instances() = member_health(users.front(), sg, in);
                continue;
            }
            auto *h = out->add_instances();
            *h->mutable_instance() = in;
            h->set_status(v1::UNUSED);
        }
    });
}

grpc::Status control_service::ListServerGroups(ctx *, const v1::ListServerGroupsRequest *req,
                                               v1::ListServerGroupsResponse *out) {
    return run([&] {
        violations v;
        int size = page_size_or_default(req->page_size(), v);
        if (req->type() != v1::SERVER_GROUP_TYPE_UNSPECIFIED && req->type() != v1::VIRTUAL &&
            req->type() != v1::AVAILABILITY)
            v.push_back({"type", "value " + std::to_string(req->type()) +
                                     " is invalid: must be VIRTUAL or AVAILABILITY"});
        const bool associable = !req->associable_with_load_balancer().empty() ||
                                !req->associable_with_backend_service().empty();
        if (associable) {
            check_id("associable_with_load_balancer", req->associable_with_load_balancer(), v);
            check_id("associable_with_backend_service", req->associable_with_backend_service(), v);
        }
        throw_if_invalid(std::move(v));
        std::optional<v1::LoadBalancer> lb;
        if (associable) {
            lb = must_lb(req->associable_with_load_balancer());
            must_bs(lb->name(), req->associable_with_backend_service());
        }
        std::string after = after_token(req->page_token());
        std::vector<v1::ServerGroup> page;
        bool more = false;
        for (;;) {
            auto rows = store_.list_server_groups(after, 256);
            for (const auto &sg : rows) {
                after = sg.name();
                if (req->type() != v1::SERVER_GROUP_TYPE_UNSPECIFIED && sg.type() != req->type())
                    continue;
                if (lb && (sg.region() != lb->region() || sg.vpc() != lb->vpc() ||
                           sg.zone() != lb->zone()))
                    continue;
                if (static_cast<int>(page.size()) == size) {
                    more = true;
                    break;
                }
                page.push_back(sg);
            }
            if (more || rows.size() < 256) break;
        }
        for (const auto &sg : page) *out->add_server_groups() = sg;
        if (more) out->set_next_page_token(page_token(page.back().name()));
    });
}

grpc::Status control_service::UpdateServerGroup(ctx *c, const v1::UpdateServerGroupRequest *req,
                                                v1::ServerGroup *out) {
    return run_change(c, [&] {
        too_many_instances("server_group.instances", req->server_group().instances_size());
        require_id("server_group.name", req->server_group().name());
        store::transaction tx(store_);
        const auto before = must_sg(req->server_group().name());
        v1::ServerGroup sg = before;
        violations v;
        merge_masked(req->server_group(), req->update_mask(),
                     {"type", "region", "vpc", "zone", "instances"}, {"name"}, &sg, v);
        throw_if_invalid(std::move(v));
        if (sg.type() == v1::SERVER_GROUP_TYPE_UNSPECIFIED) sg.set_type(before.type());
        if (sg.type() != before.type())
            v.push_back({"server_group.type", "value " + std::to_string(sg.type()) +
                                                  " differs from " +
                                                  v1::ServerGroupType_Name(before.type()) +
                                                  ": the type of a group is immutable"});
        for (auto [field, was, now] : {std::tuple{"region", before.region(), sg.region()},
                                       std::tuple{"vpc", before.vpc(), sg.vpc()},
                                       std::tuple{"zone", before.zone(), sg.zone()}})
            if (was != now)
                v.push_back({std::string("server_group.") + field,
                             "value " + q(now) + " differs from " + q(was) +
                                 ": the placement of a group is immutable"});
        throw_if_invalid(std::move(v));
        throw_if_invalid(validate_server_group(sg, "server_group"));
        for (auto &in : *sg.mutable_instances()) apply_instance_defaults(&in);
        std::vector<v1::Instance> gone, joined;
        for (const auto &in : before.instances())
            if (!has_id(sg, in.id())) gone.push_back(in);
        for (const auto &in : sg.instances())
            if (!has_id(before, in.id())) joined.push_back(in);
        instances_left(sg, gone, joined);
        store_.put_server_group(sg, false);
        tx.commit();
        *out = sg;
    });
}

grpc::Status control_service::DeleteServerGroup(ctx *c, const v1::DeleteServerGroupRequest *req,
                                                google::protobuf::Empty *) {
    return run_change(c, [&] {
        require_id("name", req->name());
        store::transaction tx(store_);
        must_sg(req->name());
        auto users = store_.backend_services_using(req->name());
        if (!users.empty())
            throw failed_precondition(
                "server group " + q(req->name()) + " is associated with backend service " +
                q(users.front().load_balancer() + "/" + users.front().name()) +
                ": disassociate it first");
        store_.delete_server_group(req->name());
        tx.commit();
    });
}

grpc::Status control_service::AddInstances(ctx *c, const v1::AddInstancesRequest *req,
                                           v1::ServerGroup *out) {
    return run_change(c, [&] {
        too_many_instances("instances", req->instances_size());
        require_id("server_group", req->server_group());
        if (req->instances_size() == 0)
            throw invalid_argument("instances", "at least one instance is required");
        store::transaction tx(store_);
        auto sg = must_sg(req->server_group());
        violations v;
        std::set<std::string> ids;
        for (int i = 0; i < req->instances_size(); i++) {
            std::string f = "instances[" + std::to_string(i) + "]";
            auto more = validate_instance(req->instances(i), sg.type(), f);
            v.insert(v.end(), more.begin(), more.end());
            if (!ids.insert(req->instances(i).id()).second)
                v.push_back({f + ".id", "value " + q(req->instances(i).id()) + " is given twice"});
        }
        int total = sg.instances_size() + req->instances_size();
        if (total > max_instances)
            v.push_back({"instances", "the group would have " + std::to_string(total) +
                                          " instances: at most 1000 are allowed"});
        throw_if_invalid(std::move(v));
        std::vector<v1::Instance> joined;
        for (auto in : req->instances()) {
            if (has_id(sg, in.id()))
                throw already_exists("instance " + q(in.id()) + " already exists in server group " +
                                     q(sg.name()));
            apply_instance_defaults(&in);
            joined.push_back(in);
        }
        for (const auto &in : joined) *sg.add_instances() = in;
        instances_left(sg, {}, joined);
        store_.put_server_group(sg, false);
        tx.commit();
        *out = sg;
    });
}

grpc::Status control_service::RemoveInstances(ctx *c, const v1::RemoveInstancesRequest *req,
                                              v1::ServerGroup *out) {
    return run_change(c, [&] {
        violations v;
        check_id("server_group", req->server_group(), v);
        if (req->instance_ids_size() == 0)
            v.push_back({"instance_ids", "at least one instance id is required"});
        for (int i = 0; i < req->instance_ids_size(); i++)
            check_id("instance_ids[" + std::to_string(i) + "]", req->instance_ids(i), v);
        throw_if_invalid(std::move(v));
        store::transaction tx(store_);
        auto sg = must_sg(req->server_group());
        std::set<std::string> remove(req->instance_ids().begin(), req->instance_ids().end());
        for (const auto &id : remove)
            if (!has_id(sg, id))
                throw not_found("instance " + q(id) + " not found in server group " + q(sg.name()));
        std::vector<v1::Instance> gone;
        v1::ServerGroup after = sg;
        after.clear_instances();
        for (const auto &in : sg.instances()) {
            if (remove.count(in.id()))
                gone.push_back(in);
            else
                *after.add_instances() = in;
        }
        instances_left(after, gone, {});
        store_.put_server_group(after, false);
        tx.commit();
        *out = after;
    });
}

}  // namespace nlb::control
