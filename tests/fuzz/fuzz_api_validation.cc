/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-api-validation: any bytes as an nlb.v1 request through the control
 * plane's validation (control/validation.h, control/field_mask.h), the way
 * the service layer calls it. The first byte picks the request type; the
 * rest is parsed with ParseFromArray (inputs that do not parse are skipped).
 *
 *   0 CreateLoadBalancerRequest     5 UpdateListenerRequest
 *   1 UpdateLoadBalancerRequest     6 CreateServerGroupRequest
 *   2 CreateBackendServiceRequest   7 UpdateServerGroupRequest
 *   3 UpdateBackendServiceRequest   8 AddInstancesRequest (first byte / 9 % 3 = group type)
 *   4 CreateListenerRequest         9 ListServerGroupsRequest (page size, ids)
 *
 * Never crashes; every violation names a field (under the request's own
 * field names) and says why. A message found valid stays valid once its
 * defaults are applied (and normalising it twice changes nothing).
 * A failed check aborts, which libFuzzer reports as a crash with the input.
 */
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <set>
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "field_mask.h"
#include "nlb.pb.h"
#include "validation.h"

namespace {

using namespace nlb::control;
namespace v1 = nlb::v1;

[[noreturn]] void fail(const char *what, const std::string &detail) {
    std::fprintf(stderr, "fuzz-api-validation: %s: [%s]\n", what, detail.c_str());
    std::abort();
}

/** Every violation names a field under one of the request's top-level fields, and says why. */
void check_named(const violations &v, std::initializer_list<const char *> roots) {
    for (const field_violation &f : v) {
        if (f.field.empty()) fail("violation without a field", f.description);
        if (f.description.empty()) fail("violation without a description", f.field);
        bool ok = false;
        for (const char *r : roots) {
            const std::string root(r);
            if (f.field.compare(0, root.size(), root) == 0 &&
                (f.field.size() == root.size() || f.field[root.size()] == '.' ||
                 f.field[root.size()] == '['))
                ok = true;
        }
        if (!ok) fail("violation names a field the request does not have", f.field);
    }
}

void append(violations &to, const violations &from) {
    to.insert(to.end(), from.begin(), from.end());
}

template <typename M>
bool parse(M *m, const uint8_t *data, size_t size) {
    return m->ParseFromArray(data, static_cast<int>(size));
}

v1::LoadBalancer existing_lb() {
    v1::LoadBalancer lb;
    lb.set_name("lb1");
    lb.add_vips("198.18.1.1");
    lb.add_vips("2001:2:0:1::1");
    lb.set_region("r1");
    return lb;
}

v1::BackendService existing_bs() {
    v1::BackendService bs;
    bs.set_name("bs1");
    bs.set_load_balancer("lb1");
    bs.set_protocol(v1::TCP);
    bs.set_port(8080);
    apply_backend_service_defaults(&bs);
    return bs;
}

v1::Listener existing_listener() {
    v1::Listener l;
    l.set_name("l1");
    l.set_load_balancer("lb1");
    l.set_port(80);
    l.set_backend_service("bs1");
    apply_listener_defaults(&l);
    return l;
}

v1::ServerGroup existing_sg() {
    v1::ServerGroup sg;
    sg.set_name("sg1");
    sg.set_type(v1::VIRTUAL);
    auto *in = sg.add_instances();
    in->set_id("i1");
    in->set_address("198.19.0.11");
    apply_instance_defaults(in);
    return sg;
}

void create_load_balancer(const uint8_t *d, size_t n) {
    v1::CreateLoadBalancerRequest req;
    if (!parse(&req, d, n)) return;
    violations v;
    check_id("load_balancer_id", req.load_balancer_id(), v);
    append(v, validate_load_balancer(req.load_balancer(), "load_balancer"));
    check_named(v, {"load_balancer_id", "load_balancer"});
    if (!validate_load_balancer(req.load_balancer(), "load_balancer").empty()) return;
    v1::LoadBalancer lb = req.load_balancer();
    normalize_load_balancer(&lb);
    if (!validate_load_balancer(lb, "load_balancer").empty())
        fail("normalised LB invalid", lb.DebugString());
    v1::LoadBalancer again = lb;
    normalize_load_balancer(&again);
    if (again.SerializeAsString() != lb.SerializeAsString())
        fail("normalising twice differs", lb.DebugString());
}

void update_load_balancer(const uint8_t *d, size_t n) {
    v1::UpdateLoadBalancerRequest req;
    if (!parse(&req, d, n)) return;
    v1::LoadBalancer lb = existing_lb();
    violations v;
    merge_masked(req.load_balancer(), req.update_mask(), {"vips", "region", "vpc", "zone"},
                 {"name"}, &lb, v);
    check_named(v, {"update_mask"});
    if (!v.empty()) return;
    check_named(validate_load_balancer(lb, "load_balancer"), {"load_balancer"});
}

void create_backend_service(const uint8_t *d, size_t n) {
    v1::CreateBackendServiceRequest req;
    if (!parse(&req, d, n)) return;
    violations v;
    check_id("load_balancer", req.load_balancer(), v);
    check_id("backend_service_id", req.backend_service_id(), v);
    append(v, validate_backend_service(req.backend_service(), "backend_service"));
    check_named(v, {"load_balancer", "backend_service_id", "backend_service"});
    if (!validate_backend_service(req.backend_service(), "backend_service").empty()) return;
    v1::BackendService bs = req.backend_service();
    apply_backend_service_defaults(&bs);
    violations after = validate_backend_service(bs, "backend_service");
    if (!after.empty())
        fail("valid backend service invalid after its defaults",
             after[0].field + ": " + after[0].description);
}

void update_backend_service(const uint8_t *d, size_t n) {
    v1::UpdateBackendServiceRequest req;
    if (!parse(&req, d, n)) return;
    const std::set<std::string> &mutable_fields = backend_service_mutable_paths();
    v1::BackendService bs = existing_bs();
    violations v;
    auto applied = merge_masked(req.backend_service(), req.update_mask(), mutable_fields,
                                {"name", "load_balancer"}, &bs, v);
    check_named(v, {"update_mask"});
    if (!v.empty()) return;
    for (const std::string &p : applied)
        if (!mask_covers(applied, p)) fail("applied path not covered by its own set", p);
    violations after = validate_backend_service(bs, "backend_service");
    check_named(after, {"backend_service"});
    if (!after.empty()) return;
    apply_backend_service_defaults(&bs);
    after = validate_backend_service(bs, "backend_service");
    if (!after.empty())
        fail("valid backend service invalid after its defaults",
             after[0].field + ": " + after[0].description);
}

void create_listener(const uint8_t *d, size_t n) {
    v1::CreateListenerRequest req;
    if (!parse(&req, d, n)) return;
    violations v;
    check_id("load_balancer", req.load_balancer(), v);
    check_id("listener_id", req.listener_id(), v);
    append(v, validate_listener(req.listener(), "listener"));
    check_named(v, {"load_balancer", "listener_id", "listener"});
    if (!validate_listener(req.listener(), "listener").empty()) return;
    v1::Listener l = req.listener();
    apply_listener_defaults(&l);
    violations after = validate_listener(l, "listener");
    if (!after.empty())
        fail("valid listener invalid after its defaults",
             after[0].field + ": " + after[0].description);
}

void update_listener(const uint8_t *d, size_t n) {
    v1::UpdateListenerRequest req;
    if (!parse(&req, d, n)) return;
    v1::Listener l = existing_listener();
    violations v;
    merge_masked(req.listener(), req.update_mask(), {"protocol", "port", "mode", "backend_service"},
                 {"name", "load_balancer"}, &l, v);
    check_named(v, {"update_mask"});
    if (!v.empty()) return;
    check_named(validate_listener(l, "listener"), {"listener"});
}

void create_server_group(const uint8_t *d, size_t n) {
    v1::CreateServerGroupRequest req;
    if (!parse(&req, d, n)) return;
    violations v;
    check_id("server_group_id", req.server_group_id(), v);
    append(v, validate_server_group(req.server_group(), "server_group"));
    check_named(v, {"server_group_id", "server_group"});
    if (!validate_server_group(req.server_group(), "server_group").empty()) return;
    v1::ServerGroup sg = req.server_group();
    for (auto &in : *sg.mutable_instances()) apply_instance_defaults(&in);
    violations after = validate_server_group(sg, "server_group");
    if (!after.empty())
        fail("valid server group invalid after its defaults",
             after[0].field + ": " + after[0].description);
}

void update_server_group(const uint8_t *d, size_t n) {
    v1::UpdateServerGroupRequest req;
    if (!parse(&req, d, n)) return;
    v1::ServerGroup sg = existing_sg();
    violations v;
    merge_masked(req.server_group(), req.update_mask(),
                 {"type", "region", "vpc", "zone", "instances"}, {"name"}, &sg, v);
    check_named(v, {"update_mask"});
    if (!v.empty()) return;
    check_named(validate_server_group(sg, "server_group"), {"server_group"});
}

void add_instances(uint8_t selector, const uint8_t *d, size_t n) {
    v1::AddInstancesRequest req;
    if (!parse(&req, d, n)) return;
    const v1::ServerGroupType type = static_cast<v1::ServerGroupType>((selector / 10) % 3);
    violations v;
    check_id("server_group", req.server_group(), v);
    for (int i = 0; i < req.instances_size(); i++) {
        const std::string f = "instances[" + std::to_string(i) + "]";
        violations more = validate_instance(req.instances(i), type, f);
        check_named(more, {f.c_str()});
        if (more.empty()) {
            v1::Instance in = req.instances(i);
            apply_instance_defaults(&in);
            violations after = validate_instance(in, type, f);
            if (!after.empty())
                fail("valid instance invalid after its defaults",
                     after[0].field + ": " + after[0].description);
        }
        append(v, more);
    }
    check_named(v, {"server_group", "instances"});
}

void list_server_groups(const uint8_t *d, size_t n) {
    v1::ListServerGroupsRequest req;
    if (!parse(&req, d, n)) return;
    violations v;
    const int size = page_size_or_default(req.page_size(), v);
    if (v.empty() && (size < 1 || size > max_page_size))
        fail("page size out of range", std::to_string(size));
    if (!req.associable_with_load_balancer().empty())
        check_id("associable_with_load_balancer", req.associable_with_load_balancer(), v);
    if (!req.associable_with_backend_service().empty())
        check_id("associable_with_backend_service", req.associable_with_backend_service(), v);
    check_named(v,
                {"page_size", "associable_with_load_balancer", "associable_with_backend_service"});
    // The address and path checks on the token's bytes, which are any string.
    const std::string &text = req.page_token();
    if (auto ip = canonical_ip(text)) {
        auto again = canonical_ip(*ip);
        if (!again || *again != *ip) fail("canonical address not canonical", *ip);
    }
    violations pv;
    check_path("path", text, pv);
    check_named(pv, {"path"});
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    // Invalid UTF-8 in a string field fails the parse and logs an error: keep the output quiet.
    google::protobuf::SetLogHandler(nullptr);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const uint8_t selector = data[0];
    const uint8_t *d = data + 1;
    const size_t n = size - 1;
    switch (selector % 10) {
        case 0:
            create_load_balancer(d, n);
            break;
        case 1:
            update_load_balancer(d, n);
            break;
        case 2:
            create_backend_service(d, n);
            break;
        case 3:
            update_backend_service(d, n);
            break;
        case 4:
            create_listener(d, n);
            break;
        case 5:
            update_listener(d, n);
            break;
        case 6:
            create_server_group(d, n);
            break;
        case 7:
            update_server_group(d, n);
            break;
        case 8:
            add_instances(selector, d, n);
            break;
        case 9:
            list_server_groups(d, n);
            break;
    }
    return 0;
}
