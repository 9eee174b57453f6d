/* SPDX-License-Identifier: Apache-2.0 */
#include "daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace nlb::test {

namespace {

std::string env_or(const char *name, const char *fallback) {
    const char *v = std::getenv(name);
    return v && *v ? v : fallback;
}

std::string slurp(const std::string &path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

int decode(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

std::string control_binary() {
    return env_or("NLB_CONTROL", "nlb-control");
}

std::string nlbctl_binary() {
    return env_or("NLBCTL", "nlbctl");
}

temp_dir::temp_dir() {
    std::string templ = env_or("TMPDIR", "/tmp") + "/nlb-control-test.XXXXXX";
    if (!mkdtemp(templ.data())) std::abort();
    path_ = templ;
}

temp_dir::~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

run_result run_program(const std::vector<std::string> &argv, const std::vector<std::string> &env) {
    static int seq = 0;
    std::string base = env_or("TMPDIR", "/tmp") + "/nlb-run." + std::to_string(getpid()) + "." +
                       std::to_string(seq++);
    std::string out = base + ".out", err = base + ".err";
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        dup2(fe, 2);
        for (const auto &e : env) putenv(const_cast<char *>(e.c_str()));
        std::vector<char *> args;
        for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    run_result r{decode(status), slurp(out), slurp(err)};
    unlink(out.c_str());
    unlink(err.c_str());
    return r;
}

control_daemon::control_daemon(const std::string &dir, std::vector<std::string> extra)
    : socket_(dir + "/control.sock"), state_(dir + "/state.db"), extra_(std::move(extra)) {}

control_daemon::~control_daemon() {
    if (pid_ > 0) kill9();
}

bool control_daemon::start() {
    pid_ = fork();
    if (pid_ == 0) {
        std::vector<std::string> argv{control_binary(), "--listen",     "unix:" + socket_,
                                      "--state",        state_,         "--init-state",
                                      "--log-level",    "warn"};
        argv.insert(argv.end(), extra_.begin(), extra_.end());
        std::vector<char *> args;
        for (auto &a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10);
    while (std::chrono::system_clock::now() < deadline) {
        int status;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        if (access(socket_.c_str(), F_OK) == 0 &&
            channel()->WaitForConnected(std::chrono::system_clock::now() +
                                        std::chrono::milliseconds(200)))
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

int control_daemon::stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return decode(status);
}

void control_daemon::kill9() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
}

std::shared_ptr<grpc::Channel> control_daemon::channel() const {
    return grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
}

std::unique_ptr<v1::LoadBalancing::Stub> control_daemon::stub() const {
    return v1::LoadBalancing::NewStub(channel());
}

}  // namespace nlb::test
