/* SPDX-License-Identifier: Apache-2.0 */
/* nlbctl server-group ...: create, list, show, delete, add-instance, remove-instance. */
#include "cli.h"

namespace nlbctl {

namespace {

v1::ServerGroupType type_of(const std::string &t) {
    return t == "virtual"        ? v1::VIRTUAL
           : t == "availability" ? v1::AVAILABILITY
                                 : v1::SERVER_GROUP_TYPE_UNSPECIFIED;
}

const char *instance_help =
    "id=ID,ip=ADDR[,port=P][,weight=W] (repeatable; port: virtual "
    "groups only; weight 0-100, default 10)";

}  // namespace

void server_group_commands(CLI::App &app) {
    auto *r = app.add_subcommand("server-group", "Server groups (virtual or availability)")
                  ->require_subcommand(1);
    auto types = CLI::IsMember({"virtual", "availability"});
    auto *c = r->add_subcommand("create", "Create a server group");
    c->add_option("NAME", o.name)->required();
    c->add_option("--type", o.type, "virtual or availability")->required()->check(types);
    c->add_option("--region", o.region)->required();
    c->add_option("--vpc", o.vpc)->required();
    c->add_option("--zone", o.zone)->required();
    c->add_option("--instance", o.instances, instance_help);
    c->callback([] {
        action = [] {
            v1::CreateServerGroupRequest q;
            q.set_server_group_id(o.name);
            auto *g = q.mutable_server_group();
            g->set_type(type_of(o.type));
            g->set_region(o.region);
            g->set_vpc(o.vpc);
            g->set_zone(o.zone);
            for (const auto &spec : o.instances) *g->add_instances() = parse_instance(spec);
            return call(&v1::LoadBalancing::Stub::CreateServerGroup, q);
        };
    });
    auto *l = r->add_subcommand("list", "List server groups");
    l->add_option("--type", o.type, "Only this type")->check(types);
    auto *alb = l->add_option("--associable-with-lb", o.associable_lb,
                              "Only groups this backend service may use now (placement)");
    auto *abs = l->add_option("--backend-service", o.associable_bs,
                              "The backend service, with --associable-with-lb");
    alb->needs(abs);
    abs->needs(alb);
    add_paging(l);
    l->callback([] {
        action = [] {
            v1::ListServerGroupsRequest q;
            q.set_type(type_of(o.type));
            q.set_associable_with_load_balancer(o.associable_lb);
            q.set_associable_with_backend_service(o.associable_bs);
            q.set_page_size(o.page_size);
            q.set_page_token(o.page_token);
            return call(&v1::LoadBalancing::Stub::ListServerGroups, q);
        };
    });
    auto *s = r->add_subcommand("show", "Show a server group, its users and instance health");
    s->add_option("NAME", o.name)->required();
    s->callback([] {
        action = [] {
            v1::GetServerGroupRequest q;
            q.set_name(o.name);
            return call(&v1::LoadBalancing::Stub::GetServerGroup, q);
        };
    });
    auto *d = r->add_subcommand("delete", "Delete a server group (not while associated)");
    d->add_option("NAME", o.name)->required();
    d->callback([] {
        action = [] {
            v1::DeleteServerGroupRequest q;
            q.set_name(o.name);
            return call(&v1::LoadBalancing::Stub::DeleteServerGroup, q);
        };
    });
    auto *a = r->add_subcommand("add-instance", "Add instances to a server group");
    a->add_option("NAME", o.name)->required();
    a->add_option("--instance", o.instances, instance_help)->required();
    a->callback([] {
        action = [] {
            v1::AddInstancesRequest q;
            q.set_server_group(o.name);
            for (const auto &spec : o.instances) *q.add_instances() = parse_instance(spec);
            return call(&v1::LoadBalancing::Stub::AddInstances, q);
        };
    });
    auto *m =
        r->add_subcommand("remove-instance", "Remove instances from a server group (they drain)");
    m->add_option("NAME", o.name)->required();
    m->add_option("--id", o.instance_ids, "Instance id (repeatable)")->required();
    m->callback([] {
        action = [] {
            v1::RemoveInstancesRequest q;
            q.set_server_group(o.name);
            for (const auto &id : o.instance_ids) q.add_instance_ids(id);
            return call(&v1::LoadBalancing::Stub::RemoveInstances, q);
        };
    });
}

}  // namespace nlbctl
