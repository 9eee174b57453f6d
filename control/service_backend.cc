/* SPDX-License-Identifier: Apache-2.0 */
/* Backend services: CRUD, server group association (rules 2, 4, 5, 7), health view. */
#include "field_mask.h"
#include "service.h"
#include "validation.h"

#include <set>

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


}  // namespace

void control_service::drain(const v1::BackendService &bs, const v1::ServerGroupType,
                            const v1::Instance &in) {
    // Drain timeout 0 = removed at once: nothing to wait for.
    if (bs.drain_timeout_seconds() == 0) return;
    draining_instance d{bs.load_balancer(), bs.name(), in,
                        now_unix_() + bs.drain_timeout_seconds()};
    if (!d.instance.has_port()) d.instance.set_port(bs.port());
    store_.add_draining(d);
}

void control_service::change_group(const v1::BackendService &before,
                                   const std::string &after_group) {
    if (before.server_group() == after_group) return;
    std::set<std::string> joining;
    std::optional<v1::ServerGroup> next;
    if (!after_group.empty()) {
        next = must_sg(after_group);
        check_placement(must_lb(before.load_balancer()), *next);
        for (const auto &in : next->instances()) joining.insert(in.id());
    }
    if (!before.server_group().empty()) {
        // The foreign key keeps an associated group from being deleted.
        auto old = must_sg(before.server_group());
        for (const auto &in : old.instances())
            if (!joining.count(in.id())) drain(before, old.type(), in);
    }
    for (const auto &id : joining)
        store_.remove_draining(before.load_balancer(), before.name(), id);
}

v1::InstanceHealth control_service::member_health(const v1::BackendService &bs,
                                                  const v1::ServerGroup &, const v1::Instance &in) {
    v1::InstanceHealth h;
    *h.mutable_instance() = in;
    if (!in.has_port()) h.mutable_instance()->set_port(bs.port());
    auto st = health_.status(bs.load_balancer(), bs.name(), in);
    h.set_status(st.status);
    h.set_reason(st.reason);
    h.set_active_connections(st.active_connections);
    return h;
}

grpc::Status control_service::CreateBackendService(ctx *c,
                                                   const v1::CreateBackendServiceRequest *req,
                                                   v1::BackendService *out) {
    return run_change(c, [&] {
        violations v;
        check_id("load_balancer", req->load_balancer(), v);
        check_id("backend_service_id", req->backend_service_id(), v);
        auto more = validate_backend_service(req->backend_service(), "backend_service");
        v.insert(v.end(), more.begin(), more.end());
        throw_if_invalid(std::move(v));
        v1::BackendService bs = req->backend_service();
        apply_backend_service_defaults(&bs);
        bs.set_name(req->backend_service_id());
        bs.set_load_balancer(req->load_balancer());
        store::transaction tx(store_);
        must_lb(bs.load_balancer());
        if (store_.get_backend_service(bs.load_balancer(), bs.name()))
            throw already_exists("backend service " + q(bs.name()) +
                                 " already exists in load balancer " + q(bs.load_balancer()));
        // Records left by a service of this name deleted before the records went with it
        // (stores written by earlier versions) would show its instances here as draining.
        store_.remove_all_draining(bs.load_balancer(), bs.name());
        v1::BackendService none = bs;
        none.clear_server_group();
        change_group(none, bs.server_group());
        store_.put_backend_service(bs, true);
        tx.commit();
        *out = bs;
    });
}

grpc::Status control_service::GetBackendService(ctx *, const v1::GetBackendServiceRequest *req,
                                                v1::BackendService *out) {
    return run([&] {
        require_id("load_balancer", req->load_balancer());
        require_id("name", req->name());
        *out = must_bs(req->load_balancer(), req->name());
    });
}

grpc::Status control_service::ListBackendServices(ctx *, const v1::ListBackendServicesRequest *req,
                                                  v1::ListBackendServicesResponse *out) {
    return run([&] {
        violations v;
        check_id("load_balancer", req->load_balancer(), v);
        int size = page_size_or_default(req->page_size(), v);
        throw_if_invalid(std::move(v));
        must_lb(req->load_balancer());
        auto rows = store_.list_backend_services(req->load_balancer(),
                                                 after_token(req->page_token()), size + 1);
        for (int i = 0; i < static_cast<int>(rows.size()) && i < size; i++)
            *out->add_backend_services() = rows[i];
        if (static_cast<int>(rows.size()) > size)
            out->set_next_page_token(page_token(rows[size - 1].name()));
    });
}

grpc::Status control_service::UpdateBackendService(ctx *c,
                                                   const v1::UpdateBackendServiceRequest *req,
                                                   v1::BackendService *out) {
    return run_change(c, [&] {
        const auto &in = req->backend_service();
        require_id("backend_service.load_balancer", in.load_balancer());
        require_id("backend_service.name", in.name());
        store::transaction tx(store_);
        const v1::BackendService before = must_bs(in.load_balancer(), in.name());
        v1::BackendService bs = before;
        violations v;
        auto applied =
            merge_masked(in, req->update_mask(), backend_service_mutable_paths(), {"name", "load_balancer"}, &bs, v);
        throw_if_invalid(std::move(v));
        // Rule 3: protocol and port are immutable; resending the same value is fine.
        if (bs.protocol() == v1::PROTOCOL_UNSPECIFIED) bs.set_protocol(before.protocol());
        if (bs.port() == 0) bs.set_port(before.port());
        if (bs.protocol() != before.protocol())
            v.push_back({"backend_service.protocol",
                         "value " +
                             (v1::Protocol_IsValid(bs.protocol()) ? v1::Protocol_Name(bs.protocol())
                                                                  : std::to_string(bs.protocol())) +
                             " differs from " + v1::Protocol_Name(before.protocol()) +
                             ": protocol is immutable (rule 3)"});
        if (bs.port() != before.port())
            v.push_back({"backend_service.port",
                         "value " + std::to_string(bs.port()) + " differs from " +
                             std::to_string(before.port()) + ": port is immutable (rule 3)"});
        throw_if_invalid(std::move(v));
        // HTTP-only fields kept from an earlier HTTP check are dropped when the method
        // becomes TCP; the same fields sent with this request are refused by validation.
        auto *hc = bs.mutable_health_check();
        if (hc->method() != v1::HEALTH_CHECK_HTTP) {
            if (!mask_covers(applied, "health_check.path")) hc->clear_path();
            if (!mask_covers(applied, "health_check.normal_codes")) hc->clear_normal_codes();
        }
        throw_if_invalid(validate_backend_service(bs, "backend_service"));
        apply_backend_service_defaults(&bs);
        change_group(before, bs.server_group());
        store_.put_backend_service(bs, false);
        tx.commit();
        *out = bs;
    });
}

grpc::Status control_service::DeleteBackendService(ctx *c,
                                                   const v1::DeleteBackendServiceRequest *req,
                                                   google::protobuf::Empty *) {
    return run_change(c, [&] {
        require_id("load_balancer", req->load_balancer());
        require_id("name", req->name());
        store::transaction tx(store_);
        const auto before = must_bs(req->load_balancer(), req->name());
        auto users = store_.listeners_using(before.load_balancer(), before.name());
        if (!users.empty()) {
            std::string names;
            for (const auto &n : users) names += (names.empty() ? "" : ", ") + q(n);
            throw failed_precondition("backend service " + q(before.name()) +
                                      " is used by listener " + names +
                                      ": a backend service associated with a listener cannot "
                                      "be deleted (rule 5)");
        }
        // The group is disassociated with the service's row (rule 5). No listener uses the
        // service, so the dataplane has no connection of it left to drain: its draining
        // records go with it (recording the group's instances as draining, as leaving a
        // group does, would only write rows to delete), instead of staying behind unread
        // and coming back if a service of the same name is created.
        store_.remove_all_draining(before.load_balancer(), before.name());
        store_.delete_backend_service(before.load_balancer(), before.name());
        tx.commit();
    });
}

grpc::Status control_service::SetServerGroup(ctx *c, const v1::SetServerGroupRequest *req,
                                             v1::BackendService *out) {
    return run_change(c, [&] {
        violations v;
        check_id("load_balancer", req->load_balancer(), v);
        check_id("backend_service", req->backend_service(), v);
        if (!req->server_group().empty()) check_id("server_group", req->server_group(), v);
        throw_if_invalid(std::move(v));
        store::transaction tx(store_);
        const auto before = must_bs(req->load_balancer(), req->backend_service());
        change_group(before, req->server_group());
        v1::BackendService bs = before;
        bs.set_server_group(req->server_group());
        store_.put_backend_service(bs, false);
        tx.commit();
        *out = bs;
    });
}

grpc::Status control_service::GetBackendServiceHealth(ctx *,
                                                      const v1::GetBackendServiceHealthRequest *req,
                                                      v1::BackendServiceHealth *out) {
    return run([&] {
        require_id("load_balancer", req->load_balancer());
        require_id("backend_service", req->backend_service());
        const auto bs = must_bs(req->load_balancer(), req->backend_service());
        out->set_load_balancer(bs.load_balancer());
        out->set_backend_service(bs.name());
        out->set_server_group(bs.server_group());
        std::set<std::string> members;
        bool any_healthy = false, any_checked = false;
        if (!bs.server_group().empty()) {
            auto sg = must_sg(bs.server_group());
            out->set_server_group_type(sg.type());
            for (const auto &in : sg.instances()) {
                members.insert(in.id());
                auto h = member_health(bs, sg, in);
                any_healthy = any_healthy || h.status() == v1::HEALTHY;
                any_checked = any_checked || h.status() == v1::UNHEALTHY;
                *out->add_instances() = h;
            }
        }
        out->set_failing_open(!members.empty() && !any_healthy && any_checked);
        for (const auto &d : store_.list_draining(bs.load_balancer(), bs.name(), now_unix_())) {
            if (members.count(d.instance.id())) continue;
            auto *h = out->add_instances();
            *h->mutable_instance() = d.instance;
            h->set_status(v1::DRAINING);
            h->set_draining_deadline_unix(d.deadline_unix);
        }
    });
}

}  // namespace nlb::control
