/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Update-mask handling (AIP-134) shared by every Update method.
 */
#pragma once

#include "api_error.h"

#include <google/protobuf/field_mask.pb.h>
#include <google/protobuf/message.h>

#include <set>
#include <string>

namespace nlb::control {

/**
 * Copies the fields named by `mask` from `src` into `dst` (same type). A
 * named field that is unset in `src` is cleared in `dst` (it takes its
 * default again); repeated and message fields are replaced whole. An empty
 * mask or "*" names every top-level field except those in `identity`.
 * Paths outside `allowed` are reported as violations of field "update_mask"
 * and nothing is copied. Returns the set of paths applied.
 */
std::set<std::string> merge_masked(const google::protobuf::Message &src,
                                   const google::protobuf::FieldMask &mask,
                                   const std::set<std::string> &allowed,
                                   const std::set<std::string> &identity,
                                   google::protobuf::Message *dst, violations &out);

/** True when `applied` contains `path` or one of its parents ("a" covers "a.b"). */
bool mask_covers(const std::set<std::string> &applied, const std::string &path);

}  // namespace nlb::control
