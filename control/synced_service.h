/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nlb.v1.LoadBalancing service that nlb-control serves: control_service
 * (validation, rules, store) wired to the dataplanes.
 *  - Every call is handed to control_service; after a change call succeeds
 *    (its transaction has committed), the sync is notified, so the change
 *    reaches the dataplanes without the caller waiting for them.
 *  - GetStats and ListConnections, once control_service has checked the
 *    request, are answered from the dataplanes (UNAVAILABLE when none
 *    answers), with backend ids turned back into instance names.
 *  - GetBackendServiceHealth adds the active connections of DRAINING
 *    instances (members get theirs through live_instance_status).
 *
 * Threads: any gRPC thread.
 */
#pragma once

#include "dataplane_sync.h"
#include "instance_status.h"
#include "service.h"

namespace nlb::control {

/** Member health from the prober (via the sync), connections from the last dataplane stats. */
class live_instance_status final : public instance_status_source {
  public:
    explicit live_instance_status(dataplane_sync &sync) : sync_(sync) {}
    instance_status status(const std::string &lb, const std::string &bs,
                           const v1::Instance &in) override;

  private:
    dataplane_sync &sync_;
};

class synced_service final : public v1::LoadBalancing::Service {
  public:
    synced_service(control_service &inner, dataplane_sync &sync) : inner_(inner), sync_(sync) {}

    using ctx = grpc::ServerContext;
    using empty = google::protobuf::Empty;
    grpc::Status CreateLoadBalancer(ctx *, const v1::CreateLoadBalancerRequest *,
                                    v1::LoadBalancer *) override;
    grpc::Status GetLoadBalancer(ctx *, const v1::GetLoadBalancerRequest *,
                                 v1::LoadBalancer *) override;
    grpc::Status ListLoadBalancers(ctx *, const v1::ListLoadBalancersRequest *,
                                   v1::ListLoadBalancersResponse *) override;
    grpc::Status UpdateLoadBalancer(ctx *, const v1::UpdateLoadBalancerRequest *,
                                    v1::LoadBalancer *) override;
    grpc::Status DeleteLoadBalancer(ctx *, const v1::DeleteLoadBalancerRequest *, empty *) override;
    grpc::Status CreateListener(ctx *, const v1::CreateListenerRequest *, v1::Listener *) override;
    grpc::Status GetListener(ctx *, const v1::GetListenerRequest *, v1::Listener *) override;
    grpc::Status ListListeners(ctx *, const v1::ListListenersRequest *,
                               v1::ListListenersResponse *) override;
    grpc::Status UpdateListener(ctx *, const v1::UpdateListenerRequest *, v1::Listener *) override;
    grpc::Status DeleteListener(ctx *, const v1::DeleteListenerRequest *, empty *) override;
    grpc::Status CreateBackendService(ctx *, const v1::CreateBackendServiceRequest *,
                                      v1::BackendService *) override;
    grpc::Status GetBackendService(ctx *, const v1::GetBackendServiceRequest *,
                                   v1::BackendService *) override;
    grpc::Status ListBackendServices(ctx *, const v1::ListBackendServicesRequest *,
                                     v1::ListBackendServicesResponse *) override;
    grpc::Status UpdateBackendService(ctx *, const v1::UpdateBackendServiceRequest *,
                                      v1::BackendService *) override;
    grpc::Status DeleteBackendService(ctx *, const v1::DeleteBackendServiceRequest *,
                                      empty *) override;
    grpc::Status SetServerGroup(ctx *, const v1::SetServerGroupRequest *,
                                v1::BackendService *) override;
    grpc::Status GetBackendServiceHealth(ctx *, const v1::GetBackendServiceHealthRequest *,
                                         v1::BackendServiceHealth *) override;
    grpc::Status CreateServerGroup(ctx *, const v1::CreateServerGroupRequest *,
                                   v1::ServerGroup *) override;
    grpc::Status GetServerGroup(ctx *, const v1::GetServerGroupRequest *,
                                v1::ServerGroupView *) override;
    grpc::Status ListServerGroups(ctx *, const v1::ListServerGroupsRequest *,
                                  v1::ListServerGroupsResponse *) override;
    grpc::Status UpdateServerGroup(ctx *, const v1::UpdateServerGroupRequest *,
                                   v1::ServerGroup *) override;
    grpc::Status DeleteServerGroup(ctx *, const v1::DeleteServerGroupRequest *, empty *) override;
    grpc::Status AddInstances(ctx *, const v1::AddInstancesRequest *, v1::ServerGroup *) override;
    grpc::Status RemoveInstances(ctx *, const v1::RemoveInstancesRequest *,
                                 v1::ServerGroup *) override;
    grpc::Status GetStats(ctx *, const v1::GetStatsRequest *, v1::Stats *) override;
    grpc::Status ListConnections(ctx *, const v1::ListConnectionsRequest *,
                                 v1::ListConnectionsResponse *) override;

  private:
    /** Notifies the sync when `st` is OK (the change committed); returns `st`. */
    grpc::Status changed(grpc::Status st);
    /** The VIPs of load balancer `name` ("" = every VIP: empty set). */
    grpc::Status vips_of(ctx *c, const std::string &name, std::vector<std::string> *vips);

    control_service &inner_;
    dataplane_sync &sync_;
};

}  // namespace nlb::control
