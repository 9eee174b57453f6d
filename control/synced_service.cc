/* SPDX-License-Identifier: Apache-2.0 */
#include "synced_service.h"

#include <algorithm>
#include <set>

namespace nlb::control {

instance_status live_instance_status::status(const std::string &lb, const std::string &bs,
                                             const v1::Instance &in) {
    instance_status st;
    st.status = sync_.health(lb, bs, in, &st.reason);
    st.active_connections = sync_.cached_connections(backend_id(lb, bs, in.id(), in.address()));
    return st;
}

grpc::Status synced_service::changed(grpc::Status st) {
    if (st.ok()) sync_.notify();
    return st;
}

// Calls that change the desired state: hand over, then notify the sync after the commit.
#define NLB_CHANGE(method, req_t, resp_t)                                             \
    grpc::Status synced_service::method(ctx *c, const v1::req_t *req, resp_t *resp) { \
        return changed(inner_.method(c, req, resp));                                  \
    }
// Calls that only read.
#define NLB_READ(method, req_t, resp_t)                                               \
    grpc::Status synced_service::method(ctx *c, const v1::req_t *req, resp_t *resp) { \
        return inner_.method(c, req, resp);                                           \
    }

NLB_CHANGE(CreateLoadBalancer, CreateLoadBalancerRequest, v1::LoadBalancer)
NLB_READ(GetLoadBalancer, GetLoadBalancerRequest, v1::LoadBalancer)
NLB_READ(ListLoadBalancers, ListLoadBalancersRequest, v1::ListLoadBalancersResponse)
NLB_CHANGE(UpdateLoadBalancer, UpdateLoadBalancerRequest, v1::LoadBalancer)
NLB_CHANGE(DeleteLoadBalancer, DeleteLoadBalancerRequest, empty)
NLB_CHANGE(CreateListener, CreateListenerRequest, v1::Listener)
NLB_READ(GetListener, GetListenerRequest, v1::Listener)
NLB_READ(ListListeners, ListListenersRequest, v1::ListListenersResponse)
NLB_CHANGE(UpdateListener, UpdateListenerRequest, v1::Listener)
NLB_CHANGE(DeleteListener, DeleteListenerRequest, empty)
NLB_CHANGE(CreateBackendService, CreateBackendServiceRequest, v1::BackendService)
NLB_READ(GetBackendService, GetBackendServiceRequest, v1::BackendService)
NLB_READ(ListBackendServices, ListBackendServicesRequest, v1::ListBackendServicesResponse)
NLB_CHANGE(UpdateBackendService, UpdateBackendServiceRequest, v1::BackendService)
NLB_CHANGE(DeleteBackendService, DeleteBackendServiceRequest, empty)
NLB_CHANGE(SetServerGroup, SetServerGroupRequest, v1::BackendService)
NLB_CHANGE(CreateServerGroup, CreateServerGroupRequest, v1::ServerGroup)
NLB_READ(GetServerGroup, GetServerGroupRequest, v1::ServerGroupView)
NLB_READ(ListServerGroups, ListServerGroupsRequest, v1::ListServerGroupsResponse)
NLB_CHANGE(UpdateServerGroup, UpdateServerGroupRequest, v1::ServerGroup)
NLB_CHANGE(DeleteServerGroup, DeleteServerGroupRequest, empty)
NLB_CHANGE(AddInstances, AddInstancesRequest, v1::ServerGroup)
NLB_CHANGE(RemoveInstances, RemoveInstancesRequest, v1::ServerGroup)

#undef NLB_CHANGE
#undef NLB_READ

grpc::Status synced_service::GetBackendServiceHealth(ctx *c,
                                                     const v1::GetBackendServiceHealthRequest *req,
                                                     v1::BackendServiceHealth *resp) {
    // Fresh counts for this view (a dataplane that is down answers at once).
    if (sync_.any_connected()) sync_.poll_connections();
    auto st = inner_.GetBackendServiceHealth(c, req, resp);
    if (!st.ok()) return st;
    for (auto &h : *resp->mutable_instances()) {
        if (h.status() != v1::DRAINING) continue;
        h.set_active_connections(
            sync_.cached_connections(backend_id(resp->load_balancer(), resp->backend_service(),
                                                h.instance().id(), h.instance().address())));
    }
    for (const auto &dp : sync_.status()) {
        if (dp.connected) continue;
        auto *o = resp->add_unreachable_dataplanes();
        o->set_dataplane(dp.target);
        o->set_unreachable_since_unix(std::chrono::duration_cast<std::chrono::seconds>(
                                          dp.unreachable_since.time_since_epoch())
                                          .count());
        o->set_error(dp.last_error);
    }
    return st;
}

grpc::Status synced_service::vips_of(ctx *c, const std::string &name,
                                     std::vector<std::string> *vips) {
    if (name.empty()) return grpc::Status::OK;
    v1::GetLoadBalancerRequest req;
    req.set_name(name);
    v1::LoadBalancer lb;
    auto st = inner_.GetLoadBalancer(c, &req, &lb);
    if (st.ok()) vips->assign(lb.vips().begin(), lb.vips().end());
    return st;
}

namespace {

void add_drops(const dpv1::Counters &c, v1::Stats *out) {
    for (const auto &[reason, n] : c.drops()) (*out->mutable_drops())[reason] += n;
}

std::string endpoint(const std::string &address, uint32_t port) {
    bool v6 = address.find(':') != std::string::npos;
    return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

}  // namespace

grpc::Status synced_service::GetStats(ctx *c, const v1::GetStatsRequest *req, v1::Stats *resp) {
    // control_service checks the request (an unknown load balancer is NOT_FOUND) and answers
    // UNAVAILABLE when it has nothing else to say: that is where the dataplanes come in.
    auto st = inner_.GetStats(c, req, resp);
    if (st.error_code() != grpc::StatusCode::UNAVAILABLE) return st;
    std::vector<std::string> vips;
    st = vips_of(c, req->load_balancer(), &vips);
    if (!st.ok()) return st;
    std::vector<dpv1::GetStatsResponse> all;
    st = sync_.get_stats(dpv1::GetStatsRequest(), &all);
    if (!st.ok()) return st;
    resp->Clear();
    resp->set_load_balancer(req->load_balancer());
    const std::set<std::string> wanted(vips.begin(), vips.end());
    for (const auto &dp : all) {
        if (req->load_balancer().empty()) {
            // The appliance as a whole: ports in and out, connections and drops of every lcore.
            for (const auto &p : dp.ports()) {
                resp->set_packets_in(resp->packets_in() + p.rx_packets());
                resp->set_bytes_in(resp->bytes_in() + p.rx_bytes());
                resp->set_packets_out(resp->packets_out() + p.tx_packets());
                resp->set_bytes_out(resp->bytes_out() + p.tx_bytes());
            }
            resp->set_new_connections(resp->new_connections() + dp.total().new_connections());
            resp->set_active_connections(resp->active_connections() +
                                         dp.total().active_connections());
            add_drops(dp.total(), resp);
            continue;
        }
        // One load balancer: its VIP services in, their backends' traffic out.
        for (const auto &svc : dp.services()) {
            if (!wanted.count(svc.key().vip())) continue;
            const auto &sc = svc.counters();
            resp->set_packets_in(resp->packets_in() + sc.packets());
            resp->set_bytes_in(resp->bytes_in() + sc.bytes());
            resp->set_new_connections(resp->new_connections() + sc.new_connections());
            resp->set_active_connections(resp->active_connections() + sc.active_connections());
            add_drops(sc, resp);
            for (const auto &b : svc.backends()) {
                resp->set_packets_out(resp->packets_out() + b.counters().packets());
                resp->set_bytes_out(resp->bytes_out() + b.counters().bytes());
            }
        }
    }
    return grpc::Status::OK;
}

grpc::Status synced_service::ListConnections(ctx *c, const v1::ListConnectionsRequest *req,
                                             v1::ListConnectionsResponse *resp) {
    auto st = inner_.ListConnections(c, req, resp);
    if (st.error_code() != grpc::StatusCode::UNAVAILABLE) return st;
    std::vector<std::string> vips;
    st = vips_of(c, req->load_balancer(), &vips);
    if (!st.ok()) return st;
    const size_t limit = req->limit() == 0 ? 100 : static_cast<size_t>(req->limit());
    // Filtering by load balancer happens here, over at most 100 000 table entries.
    const size_t scan = req->load_balancer().empty() ? limit : std::max<size_t>(limit, 100000);
    std::vector<dpv1::Connection> conns;
    st = sync_.list_connections(dpv1::ListConnectionsRequest(), scan, &conns);
    if (!st.ok()) return st;
    resp->Clear();
    const std::set<std::string> wanted(vips.begin(), vips.end());
    for (const auto &k : conns) {
        if (static_cast<size_t>(resp->connections_size()) >= limit) break;
        if (!wanted.empty() && !wanted.count(k.service().vip())) continue;
        auto *out = resp->add_connections();
        out->set_client(endpoint(k.client_address(), k.client_port()));
        out->set_vip(endpoint(k.service().vip(), k.service().port()));
        std::string backend = endpoint(k.backend_address(), k.backend_port());
        if (auto name = sync_.name_of(k.backend_id()))
            backend = name->backend_service + "/" + name->instance_id + " (" + backend + ")";
        out->set_backend(backend);
        out->set_protocol(k.service().protocol() == dpv1::UDP ? v1::UDP : v1::TCP);
        out->set_state(dpv1::ConnectionState_Name(k.state()));
    }
    return grpc::Status::OK;
}

}  // namespace nlb::control
