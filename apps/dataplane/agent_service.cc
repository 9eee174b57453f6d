/* SPDX-License-Identifier: Apache-2.0 */
/* agent_server: nlb.dataplane.v1 over gRPC on a unix socket. */
#include "agent_service.h"

#include <grp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

#include "dataplane.grpc.pb.h"

#ifndef NLB_VERSION
#define NLB_VERSION "unknown"
#endif

namespace nlb::dataplane {

namespace {

grpc::Status to_grpc(const agent_status &st) {
    if (st.ok()) return grpc::Status::OK;
    return grpc::Status(static_cast<grpc::StatusCode>(st.code), st.message);
}

std::string random_id() {
    std::random_device rd;
    std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
    char buf[33];
    std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(gen()),
                  static_cast<unsigned long long>(gen()));
    return buf;
}

/** mkdir -p of the directory part of path. */
bool make_parent_dirs(const std::string &path, std::string *error) {
    for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
        const std::string dir = path.substr(0, pos);
        if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
            *error = "Failed to create agent socket directory " + dir + ": " + std::strerror(errno);
            return false;
        }
    }
    return true;
}

}  // namespace

class agent_server::service final : public v1::Dataplane::Service {
  public:
    service(agent_state &state, const std::string &instance_id)
        : state_(state),
          instance_id_(instance_id),
          started_(std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count()) {}

    grpc::Status GetInfo(grpc::ServerContext *, const v1::GetInfoRequest *,
                         v1::GetInfoResponse *resp) override {
        resp->set_api_version(agent_api_version);
        resp->set_instance_id(instance_id_);
        resp->set_software_version(NLB_VERSION);
        resp->set_started_unix_s(started_);
        state_.fill_info(resp);
        state_.fill_snapshot_info(resp);
        return grpc::Status::OK;
    }
    grpc::Status PutService(grpc::ServerContext *, const v1::PutServiceRequest *req,
                            v1::PutServiceResponse *resp) override {
        return to_grpc(state_.put_service(*req, resp));
    }
    grpc::Status PutServices(grpc::ServerContext *, const v1::PutServicesRequest *req,
                             v1::PutServicesResponse *resp) override {
        return to_grpc(state_.put_services(*req, resp));
    }
    grpc::Status DeleteService(grpc::ServerContext *, const v1::DeleteServiceRequest *req,
                               v1::DeleteServiceResponse *resp) override {
        return to_grpc(state_.delete_service(*req, resp));
    }
    grpc::Status ListServices(grpc::ServerContext *, const v1::ListServicesRequest *,
                              v1::ListServicesResponse *resp) override {
        state_.list_services(resp);
        return grpc::Status::OK;
    }
    grpc::Status PurgeBackend(grpc::ServerContext *, const v1::PurgeBackendRequest *req,
                              v1::PurgeBackendResponse *resp) override {
        return to_grpc(state_.purge_backend(*req, resp));
    }
    grpc::Status GetStats(grpc::ServerContext *, const v1::GetStatsRequest *req,
                          v1::GetStatsResponse *resp) override {
        return to_grpc(state_.get_stats(*req, resp));
    }
    grpc::Status ListConnections(grpc::ServerContext *, const v1::ListConnectionsRequest *req,
                                 v1::ListConnectionsResponse *resp) override {
        return to_grpc(state_.list_connections(*req, resp));
    }

  private:
    agent_state &state_;
    const std::string instance_id_;
    const int64_t started_;
};

agent_server::agent_server(agent_state &state) : state_(state) {}

agent_server::~agent_server() {
    stop();
}

bool agent_server::start(const std::string &socket_path, const std::string &group,
                         std::string *error) {
    if (server_) {
        *error = "Failed to start the agent: already listening on " + path_;
        return false;
    }
    if (socket_path.empty() || socket_path.size() >= sizeof(sockaddr_un::sun_path)) {
        *error = "Failed to listen on agent socket '" + socket_path +
                 "': path is empty or longer than " +
                 std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes";
        return false;
    }
    if (!make_parent_dirs(socket_path, error)) return false;
    struct stat st {};
    if (lstat(socket_path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            *error = "Failed to listen on agent socket " + socket_path +
                     ": the path exists and is not a socket";
            return false;
        }
        if (unlink(socket_path.c_str()) != 0) {
            *error =
                "Failed to remove stale agent socket " + socket_path + ": " + std::strerror(errno);
            return false;
        }
    }
    gid_t gid = static_cast<gid_t>(-1);
    if (!group.empty()) {
        struct group *g = getgrnam(group.c_str());
        if (!g) {
            *error = "Failed to use agent socket group '" + group + "': no such group";
            return false;
        }
        gid = g->gr_gid;
    }

    instance_id_ = random_id();
    state_.set_instance_id(instance_id_);
    auto svc = std::make_unique<service>(state_, instance_id_);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
    builder.RegisterService(svc.get());
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server) {
        *error = "Failed to listen on agent socket " + socket_path + ": gRPC could not bind it";
        return false;
    }
    if (chmod(socket_path.c_str(), 0660) != 0 ||
        (gid != static_cast<gid_t>(-1) &&
         chown(socket_path.c_str(), static_cast<uid_t>(-1), gid) != 0)) {
        *error = "Failed to set the mode or group of agent socket " + socket_path + ": " +
                 std::strerror(errno);
        server->Shutdown();
        server->Wait();
        unlink(socket_path.c_str());
        return false;
    }
    service_ = std::move(svc);
    server_ = std::move(server);
    path_ = socket_path;
    return true;
}

void agent_server::stop() {
    if (!server_) return;
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_->Wait();
    server_.reset();
    service_.reset();
    unlink(path_.c_str());
}

}  // namespace nlb::dataplane
