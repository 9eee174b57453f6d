/* SPDX-License-Identifier: Apache-2.0 */
#include "api_error.h"

#include "nlb.pb.h"

namespace nlb::control {

grpc::Status api_error::to_status() const {
    if (fields.empty()) return grpc::Status(code, message);
    nlb::v1::BadRequest bad;
    for (const auto &f : fields) {
        auto *fv = bad.add_field_violations();
        fv->set_field(f.field);
        fv->set_description(f.description);
    }
    nlb::v1::Status st;
    st.set_code(static_cast<int32_t>(code));
    st.set_message(message);
    auto *any = st.add_details();
    // nlb.v1.BadRequest is wire-identical to google.rpc.BadRequest; advertise the
    // standard type so generic tools (grpcurl, client libraries) decode it.
    any->set_type_url("type.googleapis.com/google.rpc.BadRequest");
    any->set_value(bad.SerializeAsString());
    return grpc::Status(code, message, st.SerializeAsString());
}

api_error invalid_argument(violations v) {
    std::string msg;
    for (const auto &f : v) {
        if (!msg.empty()) msg += "; ";
        msg += f.field + ": " + f.description;
    }
    return api_error{grpc::StatusCode::INVALID_ARGUMENT, msg, std::move(v)};
}

api_error invalid_argument(const std::string &field, const std::string &description) {
    return invalid_argument(violations{{field, description}});
}

api_error not_found(const std::string &what) {
    return api_error{grpc::StatusCode::NOT_FOUND, what, {}};
}

api_error already_exists(const std::string &what) {
    return api_error{grpc::StatusCode::ALREADY_EXISTS, what, {}};
}

api_error failed_precondition(const std::string &what) {
    return api_error{grpc::StatusCode::FAILED_PRECONDITION, what, {}};
}

void throw_if_invalid(violations v) {
    if (!v.empty()) throw invalid_argument(std::move(v));
}

}  // namespace nlb::control
