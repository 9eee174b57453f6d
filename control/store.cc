/* SPDX-License-Identifier: Apache-2.0 */
#include "store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nlb::control {

namespace {

// Schema steps: step i takes a database from version i to version i + 1.
// Never edit a released step; append a new one and bump store::schema_version.
const char *const schema_steps[] = {
    // 0 -> 1: the resources.
    "CREATE TABLE load_balancer(name TEXT PRIMARY KEY, body BLOB NOT NULL);"
    "CREATE TABLE lb_vip(address TEXT PRIMARY KEY,"
    "  lb TEXT NOT NULL REFERENCES load_balancer(name) ON DELETE CASCADE);"
    "CREATE INDEX lb_vip_lb ON lb_vip(lb);"
    "CREATE TABLE server_group(name TEXT PRIMARY KEY, type INTEGER NOT NULL,"
    "  body BLOB NOT NULL);"
    "CREATE TABLE backend_service(lb TEXT NOT NULL REFERENCES load_balancer(name),"
    "  name TEXT NOT NULL, server_group TEXT REFERENCES server_group(name),"
    "  body BLOB NOT NULL, PRIMARY KEY(lb, name));"
    "CREATE INDEX backend_service_group ON backend_service(server_group);"
    "CREATE TABLE listener(lb TEXT NOT NULL REFERENCES load_balancer(name),"
    "  name TEXT NOT NULL, protocol INTEGER NOT NULL, port INTEGER NOT NULL,"
    "  backend_service TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY(lb, name),"
    "  UNIQUE(lb, protocol, port),"
    "  FOREIGN KEY(lb, backend_service) REFERENCES backend_service(lb, name));"
    "CREATE INDEX listener_backend_service ON listener(lb, backend_service);",
    // 1 -> 2: draining deadlines of instances that left a backend service (rule 7).
    "CREATE TABLE draining(lb TEXT NOT NULL, backend_service TEXT NOT NULL,"
    "  instance_id TEXT NOT NULL, deadline_unix INTEGER NOT NULL, body BLOB NOT NULL,"
    "  PRIMARY KEY(lb, backend_service, instance_id));",
};
static_assert(sizeof(schema_steps) / sizeof(schema_steps[0]) == store::schema_version);

/** A prepared statement with positional binds; finalised on destruction. */
class statement {
  public:
    statement(sqlite3 *db, const char *sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK)
            throw store_error(std::string("prepare failed: ") + sqlite3_errmsg(db));
    }
    ~statement() { sqlite3_finalize(st_); }
    statement(const statement &) = delete;
    statement &operator=(const statement &) = delete;

    statement &bind(const std::string &v) {
        sqlite3_bind_text(st_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    statement &bind_blob(const std::string &v) {
        sqlite3_bind_blob(st_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    statement &bind(int64_t v) {
        sqlite3_bind_int64(st_, ++n_, v);
        return *this;
    }
    statement &bind_null() {
        sqlite3_bind_null(st_, ++n_);
        return *this;
    }
    /** True while a row is available. */
    bool step() {
        int rc = sqlite3_step(st_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw store_error(std::string("statement failed: ") + sqlite3_errmsg(db_));
    }
    std::string text(int col) {
        const auto *p = sqlite3_column_blob(st_, col);
        return std::string(static_cast<const char *>(p), sqlite3_column_bytes(st_, col));
    }
    int64_t integer(int col) { return sqlite3_column_int64(st_, col); }

  private:
    sqlite3 *db_;
    sqlite3_stmt *st_ = nullptr;
    int n_ = 0;
};

template <class M>
M parse(const std::string &blob) {
    M m;
    if (!m.ParseFromString(blob)) throw store_error("corrupt resource body in the state database");
    return m;
}

template <class M>
std::optional<M> one(statement &st) {
    if (!st.step()) return std::nullopt;
    return parse<M>(st.text(0));
}

template <class M>
std::vector<M> all(statement &st) {
    std::vector<M> out;
    while (st.step()) out.push_back(parse<M>(st.text(0)));
    return out;
}

void make_parent_dir(const std::string &path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) return;
    std::string dir = path.substr(0, slash);
    struct stat sb;
    if (stat(dir.c_str(), &sb) == 0) return;
    if (mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST)
        throw store_error("cannot create directory " + dir + ": " + std::strerror(errno));
}

/**
 * The checks that need no SQLite: the file and its directory exist (or may be
 * created), and this process may read and write both. access() also reports a
 * read-only file system (EROFS) and an immutable file (EPERM) to root.
 */
void check_file(const std::string &path, store::if_missing missing) {
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    struct stat sb;
    if (stat(path.c_str(), &sb) != 0) {
        if (errno != ENOENT) throw store_error("cannot use " + path + ": " + std::strerror(errno));
        if (missing == store::if_missing::fail)
            throw store_error("state database " + path +
                              " does not exist (deleted? a first start needs --init-state to "
                              "create an empty one)");
        if (access((path + "-wal").c_str(), F_OK) == 0)
            throw store_error("state database " + path + " is missing but its write-ahead log " +
                              path + "-wal is there: the database was deleted; restore it, or "
                              "remove " + path + "-wal to start empty");
        make_parent_dir(path);
    } else {
        if (!S_ISREG(sb.st_mode))
            throw store_error("state database " + path + " is not a regular file");
        if (sb.st_size == 0)
            throw store_error("state database " + path +
                              " is empty (0 bytes: truncated?); restore it, or remove it and "
                              "start with --init-state for an empty state");
        if (access(path.c_str(), R_OK | W_OK) != 0)
            throw store_error("state database " + path + " is not writable: " +
                              std::strerror(errno));
    }
    if (access(dir.c_str(), W_OK | X_OK) != 0)
        throw store_error("state directory " + dir + " (of " + path + ") is not writable: " +
                          std::strerror(errno));
}

}  // namespace

std::unique_ptr<store> store::open(const std::string &path, if_missing missing) {
    check_file(path, missing);
    sqlite3 *db = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        throw store_error("cannot open " + path + ": " + msg);
    }
    if (sqlite3_db_readonly(db, "main") == 1) {
        sqlite3_close(db);
        throw store_error("state database " + path + " is not writable (opened read-only)");
    }
    std::unique_ptr<store> s(new store(db, path));
    try {
        sqlite3_busy_timeout(db, 5000);
        s->exec("PRAGMA foreign_keys=ON");
        {
            statement wal(db, "PRAGMA journal_mode=WAL");
            if (!wal.step() || wal.text(0) != "wal")
                throw store_error("cannot switch to WAL journal mode");
        }
        s->exec("PRAGMA synchronous=FULL");
        {
            // A file cut short or overwritten in the middle: pages missing or malformed.
            statement qc(db, "PRAGMA quick_check");
            std::string problems;
            while (qc.step()) {
                std::string line = qc.text(0);
                if (line == "ok") continue;
                if (!problems.empty()) problems += "; ";
                problems += line;
                if (problems.size() > 200) break;
            }
            if (!problems.empty())
                throw store_error("is damaged (truncated or corrupt): " + problems);
        }
        int tables = 0;
        bool has_version = false;
        {
            statement st(db, "SELECT name FROM sqlite_master WHERE type='table'");
            while (st.step()) {
                tables++;
                has_version = has_version || st.text(0) == "schema_version";
            }
        }
        int version = 0;
        if (has_version)
            version = s->version();
        else if (tables > 0)
            throw store_error("not an nlb state database (no schema_version table)");
        if (version > schema_version)
            throw store_error("schema version " + std::to_string(version) +
                              " is newer than this nlb-control supports (" +
                              std::to_string(schema_version) + ")");
        if (version < schema_version) s->migrate(version);
    } catch (const store_error &e) {
        int code = sqlite3_errcode(db) & 0xff;
        if (code == SQLITE_CORRUPT)
            throw store_error("state database " + path + " is damaged (truncated or corrupt): " +
                              sqlite3_errmsg(db));
        std::string msg = e.what();
        throw store_error("state database " + path + (msg.rfind("is ", 0) == 0 ? " " : ": ") +
                          msg);
    }
    return s;
}

store::store(sqlite3 *db, std::string path) : db_(db), path_(std::move(path)) {}

store::~store() {
    sqlite3_close(db_);
}

void store::exec(const char *sql) {
    char *err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errmsg(db_);
        sqlite3_free(err);
        throw store_error(msg);
    }
}

int store::version() {
    statement st(db_, "SELECT version FROM schema_version");
    if (!st.step()) throw store_error("schema_version table is empty");
    return static_cast<int>(st.integer(0));
}

void store::migrate(int from) {
    transaction tx(*this);
    if (from == 0)
        exec(
            "CREATE TABLE schema_version(version INTEGER NOT NULL);"
            "INSERT INTO schema_version VALUES(0)");
    for (int v = from; v < schema_version; v++) exec(schema_steps[v]);
    statement(db_, "UPDATE schema_version SET version=?").bind(schema_version).step();
    tx.commit();
}

store::transaction::transaction(store &s) : s_(s) {
    s_.exec("BEGIN IMMEDIATE");
}

store::transaction::~transaction() {
    if (!done_) sqlite3_exec(s_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void store::transaction::commit() {
    s_.exec("COMMIT");
    done_ = true;
}

// ---------------------------------------------------------------- load balancers

std::optional<v1::LoadBalancer> store::get_load_balancer(const std::string &name) {
    statement st(db_, "SELECT body FROM load_balancer WHERE name=?");
    st.bind(name);
    return one<v1::LoadBalancer>(st);
}

std::vector<v1::LoadBalancer> store::list_load_balancers(const std::string &after, int limit) {
    statement st(db_, "SELECT body FROM load_balancer WHERE name>? ORDER BY name LIMIT ?");
    st.bind(after).bind(limit);
    return all<v1::LoadBalancer>(st);
}

void store::put_load_balancer(const v1::LoadBalancer &lb, bool insert) {
    if (insert)
        statement(db_, "INSERT INTO load_balancer(name, body) VALUES(?, ?)")
            .bind(lb.name())
            .bind_blob(lb.SerializeAsString())
            .step();
    else
        statement(db_, "UPDATE load_balancer SET body=? WHERE name=?")
            .bind_blob(lb.SerializeAsString())
            .bind(lb.name())
            .step();
    statement(db_, "DELETE FROM lb_vip WHERE lb=?").bind(lb.name()).step();
    for (const auto &vip : lb.vips())
        statement(db_, "INSERT INTO lb_vip(address, lb) VALUES(?, ?)")
            .bind(vip)
            .bind(lb.name())
            .step();
}

void store::delete_load_balancer(const std::string &name) {
    statement(db_, "DELETE FROM load_balancer WHERE name=?").bind(name).step();
}

std::optional<std::string> store::vip_owner(const std::string &address) {
    statement st(db_, "SELECT lb FROM lb_vip WHERE address=?");
    st.bind(address);
    if (!st.step()) return std::nullopt;
    return st.text(0);
}

int store::count_children(const std::string &lb) {
    statement st(db_,
                 "SELECT (SELECT count(*) FROM listener WHERE lb=?1) + "
                 "(SELECT count(*) FROM backend_service WHERE lb=?1)");
    st.bind(lb);
    st.step();
    return static_cast<int>(st.integer(0));
}

// ---------------------------------------------------------------- listeners

std::optional<v1::Listener> store::get_listener(const std::string &lb, const std::string &name) {
    statement st(db_, "SELECT body FROM listener WHERE lb=? AND name=?");
    st.bind(lb).bind(name);
    return one<v1::Listener>(st);
}

std::vector<v1::Listener> store::list_listeners(const std::string &lb, const std::string &after,
                                                int limit) {
    statement st(db_, "SELECT body FROM listener WHERE lb=? AND name>? ORDER BY name LIMIT ?");
    st.bind(lb).bind(after).bind(limit);
    return all<v1::Listener>(st);
}

void store::put_listener(const v1::Listener &l, bool insert) {
    if (insert)
        statement(db_,
                  "INSERT INTO listener(lb, name, protocol, port, backend_service, body) "
                  "VALUES(?, ?, ?, ?, ?, ?)")
            .bind(l.load_balancer())
            .bind(l.name())
            .bind(l.protocol())
            .bind(l.port())
            .bind(l.backend_service())
            .bind_blob(l.SerializeAsString())
            .step();
    else
        statement(db_,
                  "UPDATE listener SET protocol=?, port=?, backend_service=?, body=? "
                  "WHERE lb=? AND name=?")
            .bind(l.protocol())
            .bind(l.port())
            .bind(l.backend_service())
            .bind_blob(l.SerializeAsString())
            .bind(l.load_balancer())
            .bind(l.name())
            .step();
}

void store::delete_listener(const std::string &lb, const std::string &name) {
    statement(db_, "DELETE FROM listener WHERE lb=? AND name=?").bind(lb).bind(name).step();
}

std::optional<std::string> store::listener_on(const std::string &lb, int protocol, int port) {
    statement st(db_, "SELECT name FROM listener WHERE lb=? AND protocol=? AND port=?");
    st.bind(lb).bind(protocol).bind(port);
    if (!st.step()) return std::nullopt;
    return st.text(0);
}

std::vector<std::string> store::listeners_using(const std::string &lb, const std::string &bs) {
    statement st(db_, "SELECT name FROM listener WHERE lb=? AND backend_service=? ORDER BY name");
    st.bind(lb).bind(bs);
    std::vector<std::string> out;
    while (st.step()) out.push_back(st.text(0));
    return out;
}

// ---------------------------------------------------------------- backend services

std::optional<v1::BackendService> store::get_backend_service(const std::string &lb,
                                                             const std::string &name) {
    statement st(db_, "SELECT body FROM backend_service WHERE lb=? AND name=?");
    st.bind(lb).bind(name);
    return one<v1::BackendService>(st);
}

std::vector<v1::BackendService> store::list_backend_services(const std::string &lb,
                                                             const std::string &after, int limit) {
    statement st(db_,
                 "SELECT body FROM backend_service WHERE lb=? AND name>? "
                 "ORDER BY name LIMIT ?");
    st.bind(lb).bind(after).bind(limit);
    return all<v1::BackendService>(st);
}

void store::put_backend_service(const v1::BackendService &bs, bool insert) {
    statement st(db_, insert ? "INSERT INTO backend_service(server_group, body, lb, name) "
                               "VALUES(?, ?, ?, ?)"
                             : "UPDATE backend_service SET server_group=?, body=? "
                               "WHERE lb=? AND name=?");
    if (bs.server_group().empty())
        st.bind_null();
    else
        st.bind(bs.server_group());
    st.bind_blob(bs.SerializeAsString()).bind(bs.load_balancer()).bind(bs.name()).step();
}

void store::delete_backend_service(const std::string &lb, const std::string &name) {
    statement(db_, "DELETE FROM backend_service WHERE lb=? AND name=?").bind(lb).bind(name).step();
}

std::vector<v1::BackendService> store::backend_services_using(const std::string &group) {
    statement st(db_, "SELECT body FROM backend_service WHERE server_group=? ORDER BY lb, name");
    st.bind(group);
    return all<v1::BackendService>(st);
}

// ---------------------------------------------------------------- server groups

std::optional<v1::ServerGroup> store::get_server_group(const std::string &name) {
    statement st(db_, "SELECT body FROM server_group WHERE name=?");
    st.bind(name);
    return one<v1::ServerGroup>(st);
}

std::vector<v1::ServerGroup> store::list_server_groups(const std::string &after, int limit) {
    statement st(db_, "SELECT body FROM server_group WHERE name>? ORDER BY name LIMIT ?");
    st.bind(after).bind(limit);
    return all<v1::ServerGroup>(st);
}

void store::put_server_group(const v1::ServerGroup &sg, bool insert) {
    statement(db_, insert ? "INSERT INTO server_group(type, body, name) VALUES(?, ?, ?)"
                          : "UPDATE server_group SET type=?, body=? WHERE name=?")
        .bind(sg.type())
        .bind_blob(sg.SerializeAsString())
        .bind(sg.name())
        .step();
}

void store::delete_server_group(const std::string &name) {
    statement(db_, "DELETE FROM server_group WHERE name=?").bind(name).step();
}

// ---------------------------------------------------------------- draining

void store::add_draining(const draining_instance &d) {
    statement(db_,
              "INSERT OR REPLACE INTO draining(lb, backend_service, instance_id, "
              "deadline_unix, body) VALUES(?, ?, ?, ?, ?)")
        .bind(d.load_balancer)
        .bind(d.backend_service)
        .bind(d.instance.id())
        .bind(d.deadline_unix)
        .bind_blob(d.instance.SerializeAsString())
        .step();
}

void store::remove_draining(const std::string &lb, const std::string &bs,
                            const std::string &instance_id) {
    statement(db_, "DELETE FROM draining WHERE lb=? AND backend_service=? AND instance_id=?")
        .bind(lb)
        .bind(bs)
        .bind(instance_id)
        .step();
}

void store::remove_all_draining(const std::string &lb, const std::string &bs) {
    statement(db_, "DELETE FROM draining WHERE lb=? AND backend_service=?").bind(lb).bind(bs).step();
}

std::vector<draining_instance> store::list_draining(const std::string &lb, const std::string &bs,
                                                    int64_t now_unix) {
    statement st(db_,
                 "SELECT body, deadline_unix FROM draining WHERE lb=? AND "
                 "backend_service=? AND deadline_unix>? ORDER BY instance_id");
    st.bind(lb).bind(bs).bind(now_unix);
    std::vector<draining_instance> out;
    while (st.step()) out.push_back({lb, bs, parse<v1::Instance>(st.text(0)), st.integer(1)});
    return out;
}

}  // namespace nlb::control
