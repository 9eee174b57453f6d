/* SPDX-License-Identifier: Apache-2.0 */
/* agent_state: desired services, versions, snapshot publication and purges. */
#include "agent_state.h"

#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

namespace nlb::dataplane {

bool agent_vip::operator<(const agent_vip &o) const {
    if (family != o.family) return family < o.family;
    return std::memcmp(addr.bytes, o.addr.bytes, sizeof(addr.bytes)) < 0;
}

bool agent_state::key_less::operator()(const service_key &a, const service_key &b) const {
    return std::memcmp(&a, &b, sizeof(service_key)) < 0;
}

agent_state::agent_state(agent_datapath dp) : dp_(std::move(dp)), builder_(dp_.limits) {}

void agent_state::on_vips_changed(vips_hook hook) {
    std::lock_guard<std::mutex> lock(mu_);
    vips_hook_ = std::move(hook);
}

void agent_state::set_instance_id(const std::string &id) {
    std::lock_guard<std::mutex> lock(mu_);
    instance_id_ = id;
}

std::string agent_state::instance_id() const {
    std::lock_guard<std::mutex> lock(mu_);
    return instance_id_;
}

std::set<agent_vip> agent_state::vip_set(const record_map &records) const {
    std::set<agent_vip> out;
    for (const auto &[key, r] : records)
        if (!r.deleted) out.insert({key.vip, key.family});
    return out;
}

std::vector<agent_vip> agent_state::vips() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<agent_vip> s = vip_set(records_);
    return {s.begin(), s.end()};
}

agent_status agent_state::apply(change_list changes) {
    // The desired services: what is held, with the changed records in their place. No copy
    // of the held records (a put to a dataplane holding 10 000 services stays cheap).
    std::map<service_key, const record *, key_less> overlay;
    for (const auto &[key, r] : changes) overlay[key] = &r;
    std::vector<service_spec> desired;
    desired.reserve(records_.size() + changes.size());
    auto add = [&desired](const record &r) {
        if (r.deleted) return;
        desired.push_back(r.spec);
        if (!r.purged.empty())
            std::erase_if(desired.back().backends,
                          [&r](const backend_spec &b) { return r.purged.count(b.id) != 0; });
    };
    for (const auto &[key, r] : records_) {
        auto o = overlay.find(key);
        add(o == overlay.end() ? r : *o->second);
    }
    for (const auto &[key, r] : overlay)
        if (!records_.count(key)) add(*r);
    const snapshot *prev = dp_.snapshots->current();
    snapshot_build b = builder_.build(desired, prev);
    if (!b.snap) return {agent_code::invalid_argument, b.error};

    // Backends leaving the forwarding state: remembered so PurgeBackend can still find their
    // connections by id after the control process removed them.
    if (prev) {
        const snapshot &n = *b.snap;
        for (uint32_t slot = 0; slot < prev->backends.size(); slot++) {
            const snapshot_backend &ob = prev->backends[slot];
            if (!ob.in_use) continue;
            if (slot < n.backends.size() && n.backends[slot].in_use &&
                n.backends[slot].generation == ob.generation)
                continue;
            removed_.push_back({ob.id, prev->services[ob.service].key, prev->ref_of(slot)});
        }
        while (removed_.size() > max_removed) removed_.pop_front();
    }

    std::set<agent_vip> before = vip_set(records_);
    const bool visible = dp_.snapshots->publish(std::move(b.snap), dp_.publish_limit);
    for (auto &[key, r] : changes) records_[key] = std::move(r);
    std::set<agent_vip> after = vip_set(records_);
    if (vips_hook_ && before != after) {
        std::vector<agent_vip> added, removed;
        std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                            std::back_inserter(added));
        std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                            std::back_inserter(removed));
        vips_hook_(added, removed);
    }
    if (!visible)
        return {agent_code::deadline_exceeded,
                "published, but a worker did not pass a quiescent state within " +
                    std::to_string(dp_.publish_limit.count()) + " ms"};
    return {};
}

agent_status agent_state::check_put(const v1::PutServiceRequest &req, const std::string &field,
                                    const change_list &earlier, v1::PutServiceResponse *resp,
                                    std::optional<std::pair<service_key, record>> *change) const {
    service_spec spec;
    std::string error;
    if (!req.has_service()) return {agent_code::invalid_argument, field + "service: missing"};
    if (!service_from_proto(req.service(), dp_.limits, &spec, &error))
        return {agent_code::invalid_argument, field + error};
    if (req.version() == 0) return {agent_code::invalid_argument, field + "version: must be > 0"};
    spec.version = req.version();
    for (const auto &[key, r] : earlier)
        if (key == spec.key)
            return {agent_code::invalid_argument,
                    field + "service.key: " + describe_key(spec.key) + " appears twice"};

    // Held in canonical form, so "2001:2:0:1:0::1" and "2001:2:0:1::1" are the same content.
    v1::Service held = req.service();
    held.mutable_key()->set_vip(format_ip(spec.key.vip, spec.key.family));
    for (int i = 0; i < held.backends_size(); i++)
        held.mutable_backends(i)->set_address(
            format_ip(spec.backends[static_cast<size_t>(i)].addr,
                      spec.backends[static_cast<size_t>(i)].family));

    auto it = records_.find(spec.key);
    std::set<uint64_t> purged;
    if (it != records_.end()) {
        const record &r = it->second;
        if (req.version() < r.version) {
            resp->set_result(v1::STALE);
            resp->set_version(r.version);
            return {};
        }
        if (req.version() == r.version) {
            if (!r.deleted && r.service.SerializeAsString() == held.SerializeAsString()) {
                resp->set_result(v1::UNCHANGED);
                resp->set_version(r.version);
                return {};
            }
            return {agent_code::failed_precondition,
                    field + "version: " + std::to_string(r.version) + " of " +
                        describe_key(spec.key) + " is already held with different content"};
        }
        // A purged backend stays out while it is still listed as draining.
        for (const backend_spec &b : spec.backends)
            if (b.state == backend_state::draining && r.purged.count(b.id)) purged.insert(b.id);
    }
    resp->set_result(v1::APPLIED);
    resp->set_version(req.version());
    record r;
    r.service = std::move(held);
    r.version = req.version();
    r.deleted = false;
    r.purged = std::move(purged);
    r.spec = std::move(spec);
    const service_key key = r.spec.key;
    change->emplace(key, std::move(r));
    return {};
}

agent_status agent_state::put_service(const v1::PutServiceRequest &req,
                                      v1::PutServiceResponse *resp) {
    std::lock_guard<std::mutex> lock(mu_);
    change_list changes;
    std::optional<std::pair<service_key, record>> change;
    v1::PutServiceResponse result;
    agent_status st = check_put(req, "", changes, &result, &change);
    if (!st.ok()) return st;
    if (change) {
        changes.push_back(std::move(*change));
        st = apply(std::move(changes));
        if (st.code == agent_code::invalid_argument) return st;
    }
    *resp = result;
    return st;
}

agent_status agent_state::put_services(const v1::PutServicesRequest &req,
                                       v1::PutServicesResponse *resp) {
    std::lock_guard<std::mutex> lock(mu_);
    change_list changes;
    changes.reserve(static_cast<size_t>(req.puts_size()));
    v1::PutServicesResponse results;
    for (int i = 0; i < req.puts_size(); i++) {
        std::optional<std::pair<service_key, record>> change;
        agent_status st = check_put(req.puts(i), "puts[" + std::to_string(i) + "].", changes,
                                    results.add_results(), &change);
        if (!st.ok()) return st;
        if (change) changes.push_back(std::move(*change));
    }
    agent_status st;
    if (!changes.empty()) {
        st = apply(std::move(changes));
        if (st.code == agent_code::invalid_argument) return st;
    }
    *resp = std::move(results);
    return st;
}

agent_status agent_state::delete_service(const v1::DeleteServiceRequest &req,
                                         v1::DeleteServiceResponse *resp) {
    service_key key;
    std::string error;
    if (!key_from_proto(req.key(), "key", &key, &error))
        return {agent_code::invalid_argument, error};
    if (req.version() == 0) return {agent_code::invalid_argument, "version: must be > 0"};

    std::lock_guard<std::mutex> lock(mu_);
    auto it = records_.find(key);
    if (it == records_.end() || it->second.deleted) {
        // Nothing to remove; remember the version so a late, older put stays out.
        record &r = records_[key];
        if (req.version() < r.version) {
            resp->set_result(v1::STALE);
            return {};
        }
        r.deleted = true;
        r.version = req.version();
        r.service.Clear();
        key_to_proto(key, r.service.mutable_key());
        resp->set_result(v1::UNCHANGED);
        return {};
    }
    if (req.version() < it->second.version) {
        resp->set_result(v1::STALE);
        return {};
    }
    uint64_t flows = 0;
    if (const snapshot *s = dp_.snapshots->current()) {
        if (const snapshot_service *svc = s->find_service(key)) {
            const uint32_t idx = svc->index;
            dp_.conns->for_each([&flows, idx](const conn &c) {
                if (c.service() == idx && !c.dead()) flows++;
            });
        }
    }
    record r;
    r.deleted = true;
    r.version = req.version();
    key_to_proto(key, r.service.mutable_key());
    change_list changes;
    changes.emplace_back(key, std::move(r));
    agent_status st = apply(std::move(changes));
    if (st.code == agent_code::invalid_argument) return st;
    resp->set_result(v1::APPLIED);
    resp->set_connections_reset(flows);
    return st;
}

void agent_state::fill_snapshot_info(v1::GetInfoResponse *resp) const {
    std::lock_guard<std::mutex> lock(mu_);  // the snapshot is replaced only under mu_
    const snapshot *s = dp_.snapshots->current();
    resp->set_services(s ? s->service_count() : 0);
    resp->set_backends(s ? s->backend_count() : 0);
    resp->set_snapshot_bytes(s ? s->memory_bytes() : 0);
    resp->set_snapshot_version(s ? s->version : 0);
}

void agent_state::list_services(v1::ListServicesResponse *resp) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto &[key, r] : records_) {
        if (r.deleted) continue;
        v1::VersionedService *vs = resp->add_services();
        *vs->mutable_service() = r.service;
        vs->set_version(r.version);
    }
    resp->set_instance_id(instance_id_);
}

template <class F>
uint64_t agent_state::mark_dead_where(F &&pred) {
    // Online on our own RCU id: no entry we see in use can be freed and reused during the walk.
    rte_rcu_qsbr *rcu = dp_.snapshots->rcu();
    if (dp_.rcu_id >= 0) rte_rcu_qsbr_thread_online(rcu, static_cast<unsigned>(dp_.rcu_id));
    uint64_t n = 0;
    conn_table *ct = dp_.conns;
    ct->for_each([&](const conn &c) {
        if (!c.dead() && pred(c)) {
            ct->mark_dead(&c);
            n++;
        }
    });
    if (dp_.rcu_id >= 0) rte_rcu_qsbr_thread_offline(rcu, static_cast<unsigned>(dp_.rcu_id));
    return n;
}

agent_status agent_state::purge_backend(const v1::PurgeBackendRequest &req,
                                        v1::PurgeBackendResponse *resp) {
    service_key only{};
    std::string error;
    const bool filtered = req.has_service() && !req.service().vip().empty();
    if (filtered && !key_from_proto(req.service(), "service", &only, &error))
        return {agent_code::invalid_argument, error};
    const uint64_t id = req.backend_id();

    std::lock_guard<std::mutex> lock(mu_);
    // Take the backend out of every (matching) service that still lists it.
    change_list changes;
    for (const auto &[key, r] : records_) {
        if (r.deleted || (filtered && !(key == only)) || r.purged.count(id)) continue;
        for (const backend_spec &b : r.spec.backends) {
            if (b.id != id) continue;
            changes.emplace_back(key, r);
            changes.back().second.purged.insert(id);
            break;
        }
    }
    agent_status st;
    if (!changes.empty()) {
        st = apply(std::move(changes));
        if (st.code == agent_code::invalid_argument) return st;
    }
    // Its connections, by the references it had: the publication above moved them to removed_.
    std::vector<backend_ref> refs;
    std::erase_if(removed_, [&](const removed_backend &rb) {
        if (rb.id != id || (filtered && !(rb.service == only))) return false;
        refs.push_back(rb.ref);
        return true;
    });
    uint64_t n = 0;
    if (!refs.empty())
        n = mark_dead_where([&refs](const conn &c) {
            const backend_ref b = c.backend();
            return std::find(refs.begin(), refs.end(), b) != refs.end();
        });
    resp->set_connections_reset(n);
    return st;
}

}  // namespace nlb::dataplane
