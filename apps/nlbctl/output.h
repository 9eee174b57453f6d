/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlbctl output: every API answer printed either as a table for people or,
 * with --output json, as exactly the API message in JSON (proto field names).
 * Called from the single CLI thread.
 */
#pragma once

#include "nlb.pb.h"

#include <google/protobuf/message.h>
#include <grpcpp/support/status.h>

#include <string>

namespace nlbctl {

enum class format { table, json };

/** The message as JSON (proto field names, defaults included). */
std::string to_json(const google::protobuf::Message &m);

/** Prints `m` in `fmt`; table layouts exist for every nlb.v1 answer. */
void print(const google::protobuf::Message &m, format fmt);

/** Prints "CODE: message" on stderr and returns the exit status (1). */
int print_error(const grpc::Status &st);

}  // namespace nlbctl
