/* SPDX-License-Identifier: Apache-2.0 */
#include "field_mask.h"

#include <google/protobuf/descriptor.h>

#include <memory>
#include <vector>

namespace nlb::control {

namespace gp = google::protobuf;

namespace {

std::vector<std::string> split(const std::string &path) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (;;) {
        size_t dot = path.find('.', start);
        parts.push_back(path.substr(start, dot - start));
        if (dot == std::string::npos) return parts;
        start = dot + 1;
    }
}

void copy_path(const gp::Message &src, const std::vector<std::string> &parts, gp::Message *dst) {
    const gp::Message *s = &src;
    gp::Message *d = dst;
    for (size_t i = 0; i + 1 < parts.size(); i++) {
        const auto *f = s->GetDescriptor()->FindFieldByName(parts[i]);
        s = &s->GetReflection()->GetMessage(*s, f);
        d = d->GetReflection()->MutableMessage(d, f);
    }
    const auto *f = s->GetDescriptor()->FindFieldByName(parts.back());
    std::unique_ptr<gp::Message> tmp(s->New());
    tmp->CopyFrom(*s);
    d->GetReflection()->SwapFields(d, tmp.get(), {f});
}

}  // namespace

std::set<std::string> merge_masked(const gp::Message &src, const gp::FieldMask &mask,
                                   const std::set<std::string> &allowed,
                                   const std::set<std::string> &identity, gp::Message *dst,
                                   violations &out) {
    std::set<std::string> paths;
    bool all = mask.paths_size() == 0;
    for (const auto &p : mask.paths()) {
        if (p == "*")
            all = true;
        else if (identity.count(p))
            continue;  // the resource's own name: selects, never changes
        else if (!allowed.count(p))
            out.push_back({"update_mask", "path \"" + p + "\" is not an updatable field"});
        else
            paths.insert(p);
    }
    if (all) {
        const auto *desc = src.GetDescriptor();
        for (int i = 0; i < desc->field_count(); i++)
            if (!identity.count(desc->field(i)->name())) paths.insert(desc->field(i)->name());
    }
    if (!out.empty()) return {};
    for (const auto &p : paths) copy_path(src, split(p), dst);
    return paths;
}

bool mask_covers(const std::set<std::string> &applied, const std::string &path) {
    for (const auto &p : applied)
        if (p == path ||
            (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '.'))
            return true;
    return false;
}

}  // namespace nlb::control
