/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: runs the real nlb-control binary ($NLB_CONTROL) on a unix
 * socket in a fresh temporary directory with a fresh state file, and gives
 * stubs to talk to it. Single test thread (the stub itself is thread-safe).
 */
#pragma once

#include "nlb.grpc.pb.h"

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace nlb::test {

/** A fresh directory under $TMPDIR (or /tmp), removed by the destructor. */
class temp_dir {
  public:
    temp_dir();
    ~temp_dir();
    const std::string &path() const { return path_; }

  private:
    std::string path_;
};

/** Result of running a program to completion. */
struct run_result {
    int exit_code;  // -1 when killed by a signal
    std::string out, err;
};

/** Runs argv[0] with the arguments (and extra environment "K=V" entries); captures output. */
run_result run_program(const std::vector<std::string> &argv,
                       const std::vector<std::string> &env = {});

class control_daemon {
  public:
    /** Uses dir/control.sock and dir/state.db; `extra` is appended to nlb-control's flags. */
    explicit control_daemon(const std::string &dir, std::vector<std::string> extra = {});
    ~control_daemon();

    /** Starts nlb-control and waits until it accepts calls; false on failure. */
    bool start();
    /** SIGTERM and wait; returns the exit status (-1 if killed by a signal). */
    int stop();
    /** SIGKILL and reap. */
    void kill9();

    std::unique_ptr<v1::LoadBalancing::Stub> stub() const;
    std::shared_ptr<grpc::Channel> channel() const;
    /** "unix:<socket path>" for nlbctl --server. */
    std::string address() const { return "unix:" + socket_; }
    const std::string &state_path() const { return state_; }

  private:
    std::string socket_, state_;
    std::vector<std::string> extra_;
    pid_t pid_ = -1;
};

/** Path of the nlb-control and nlbctl binaries under test (from the environment). */
std::string control_binary();
std::string nlbctl_binary();

}  // namespace nlb::test
