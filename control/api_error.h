/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The error convention of nlb-control's API layer: a gRPC code, a message that
 * names the field, the value and the rule, and (for INVALID_ARGUMENT) the
 * field violations sent as google.rpc.BadRequest-compatible status details.
 */
#pragma once

#include <grpcpp/support/status.h>

#include <string>
#include <vector>

namespace nlb::control {

/** One refused field: its path in the request and why (value and rule). */
struct field_violation {
    std::string field;
    std::string description;
};
using violations = std::vector<field_violation>;

/**
 * Thrown by the service layer (never by validation, which returns
 * violations) and turned into a grpc::Status at the handler boundary.
 */
struct api_error {
    grpc::StatusCode code;
    std::string message;
    violations fields;

    /** The status sent to the client; INVALID_ARGUMENT carries BadRequest details. */
    grpc::Status to_status() const;
};

/** INVALID_ARGUMENT whose message joins every violation ("field: description; ..."). */
api_error invalid_argument(violations v);
/** INVALID_ARGUMENT for one field. */
api_error invalid_argument(const std::string &field, const std::string &description);
api_error not_found(const std::string &what);
api_error already_exists(const std::string &what);
api_error failed_precondition(const std::string &what);

/** Throws invalid_argument(v) when v is not empty. */
void throw_if_invalid(violations v);

}  // namespace nlb::control
