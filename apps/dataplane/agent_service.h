/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_server: the gRPC server of nlb.dataplane.v1 (proto/dataplane/) on a
 * unix socket, serving an agent_state.
 *
 * Wiring in main.cc (once the datapath exists and the workers are launched):
 *
 *     nlb::dataplane::agent_datapath adp;
 *     adp.conns = o.conns.get();
 *     adp.snapshots = o.snapshots.get();
 *     adp.limits = {.max_services = o.dp.max_services, .max_backends = o.dp.max_backends};
 *     for (unsigned i = 0; i < n_workers; i++)
 *         adp.workers.push_back({workers[i].get(), config.workers[i],
 *                                &contexts[i]->counters.rounds,
 *                                &contexts[i]->counters.idle_rounds});
 *     adp.ports = agent_ports_of(config, ports);  // agent_ports.h
 *     adp.rcu_id = n_workers + 1;  // a spare RCU reader: snapshot_manager::create(n_workers + 2)
 *     adp.now_ms = tsc_now_ms;
 *     nlb::dataplane::agent_state state(std::move(adp));
 *     state.on_vips_changed(...);  // optional: queue announcements for the slow path
 *     nlb::dataplane::agent_server server(state);
 *     if (!server.start(config.agent_socket, "", &error)) { ...exit 1... }
 *     ... slow path loop on the main lcore (gRPC runs on its own threads) ...
 *     server.stop();  // before the workers and the datapath go away
 *
 * Any service published before (e.g. with --service) is replaced by the first
 * PutService/DeleteService: the agent builds every snapshot from its own
 * desired services.
 *
 * Threads: start() and stop() from one thread (the main lcore); the RPCs run
 * on gRPC's threads and go through agent_state, which serialises them.
 */
#pragma once

#include <memory>
#include <string>

#include "agent_state.h"

namespace grpc {
class Server;
}

namespace nlb::dataplane {

/** nlb.dataplane.v1 */
inline constexpr unsigned agent_api_version = 1;

class agent_server {
  public:
    /** state must outlive the server. */
    explicit agent_server(agent_state &state);
    /** Stops the server if it still runs. */
    ~agent_server();
    agent_server(const agent_server &) = delete;
    agent_server &operator=(const agent_server &) = delete;

    /**
     * Creates the socket's directory (mode 0755) if missing, removes a stale
     * socket file there, listens on unix:socket_path, makes the socket mode
     * 0660 and, when group is not empty, owned by that group. Picks a new
     * random instance id. Returns false and *error ("Failed to ...: reason")
     * when any step fails; nothing is left listening then.
     */
    bool start(const std::string &socket_path, const std::string &group, std::string *error);

    /**
     * Stops accepting calls, lets running calls finish (up to 2 s, then
     * cancels them) and removes the socket file. Safe to call twice.
     */
    void stop();

    bool running() const { return server_ != nullptr; }
    const std::string &socket_path() const { return path_; }
    /** Random, new at every start(); what GetInfo and ListServices report. */
    const std::string &instance_id() const { return instance_id_; }

  private:
    class service;

    agent_state &state_;
    std::unique_ptr<service> service_;
    std::unique_ptr<grpc::Server> server_;
    std::string path_;
    std::string instance_id_;
};

}  // namespace nlb::dataplane
