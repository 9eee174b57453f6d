/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state file's faults at start (issue 7): the real nlb-control refuses,
 * with one line naming the file and the problem and exit status 2, a state
 * file that was deleted (also with its write-ahead log left behind), cut to
 * 0 bytes, cut to half, overwritten in the middle, or is not writable (file
 * or directory: chmod for other users, chattr +i for root, whom mode bits do
 * not stop). It never starts on an empty state in its place and leaves the
 * file as it found it; --init-state creates a new database only where there
 * is none.
 */
#include "daemon.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace nlb::test {
namespace {

using lbs = v1::LoadBalancing::Stub;
namespace fs = std::filesystem;

/** A state database with `n` server groups in it, closed cleanly (no WAL left). */
void fill(const std::string &dir, int n) {
    control_daemon d(dir);
    ASSERT_TRUE(d.start());
    auto stub = d.stub();
    for (int i = 0; i < n; i++) {
        v1::CreateServerGroupRequest q;
        q.set_server_group_id("g" + std::to_string(i));
        auto *g = q.mutable_server_group();
        g->set_type(v1::VIRTUAL);
        g->set_region("r1");
        g->set_vpc("v1");
        g->set_zone("z1");
        for (int k = 0; k < 20; k++) {
            auto *in = g->add_instances();
            in->set_id("instance-" + std::to_string(k));
            in->set_address("198.18.0." + std::to_string(k + 1));
            in->set_port(8000 + k);
        }
        grpc::ClientContext ctx;
        v1::ServerGroup out;
        ASSERT_TRUE(stub->CreateServerGroup(&ctx, q, &out).ok());
    }
    ASSERT_EQ(d.stop(), 0);
    ASSERT_FALSE(fs::exists(dir + "/state.db-wal") && fs::file_size(dir + "/state.db-wal") > 0)
        << "the write-ahead log was not checkpointed at a clean stop";
}

run_result start(const std::string &dir, bool init = false) {
    std::vector<std::string> argv{control_binary(), "--state", dir + "/state.db", "--listen",
                                  "unix:" + dir + "/c.sock"};
    if (init) argv.push_back("--init-state");
    return run_program(argv);
}

/** Exit 2 with exactly one line that names the file and contains `problem`. */
void expect_refused(const run_result &r, const std::string &file, const std::string &problem) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.err.rfind("nlb-control: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
    EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(problem), std::string::npos) << r.err;
}

std::string bytes(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(store_faults, deleted_is_not_a_first_start) {
    temp_dir dir;
    const std::string db = dir.path() + "/state.db";
    // A first start without --init-state creates nothing.
    expect_refused(start(dir.path()), db, "does not exist (deleted? a first start needs "
                                          "--init-state");
    EXPECT_FALSE(fs::exists(db));
    fill(dir.path(), 3);
    fs::remove(db);
    expect_refused(start(dir.path()), db, "does not exist");
    EXPECT_FALSE(fs::exists(db));
    // Deleted while its write-ahead log stayed: even --init-state refuses to start empty.
    std::ofstream(db + "-wal") << "left behind";
    expect_refused(start(dir.path(), true), db,
                   "is missing but its write-ahead log " + db + "-wal is there");
    EXPECT_FALSE(fs::exists(db));
    // --init-state where nothing is left: a new, empty state.
    fs::remove(db + "-wal");
    control_daemon d(dir.path());
    ASSERT_TRUE(d.start());
    v1::ListServerGroupsRequest q;
    v1::ListServerGroupsResponse r;
    grpc::ClientContext ctx;
    ASSERT_TRUE(d.stub()->ListServerGroups(&ctx, q, &r).ok());
    EXPECT_EQ(r.server_groups_size(), 0);
    EXPECT_EQ(d.stop(), 0);
}

TEST(store_faults, truncated_or_corrupt_file_is_refused_and_left_alone) {
    temp_dir dir;
    const std::string db = dir.path() + "/state.db";
    fill(dir.path(), 150);
    const std::string good = bytes(db);
    ASSERT_GT(good.size(), 64u * 1024) << "too small to cut in a meaningful place";

    // Cut to 0 bytes: SQLite would take it for a new database; nlb-control does not.
    fs::resize_file(db, 0);
    expect_refused(start(dir.path()), db, "is empty (0 bytes: truncated?)");
    expect_refused(start(dir.path(), true), db, "is empty (0 bytes: truncated?)");
    EXPECT_EQ(fs::file_size(db), 0u);

    // Cut to half.
    std::ofstream(db, std::ios::binary | std::ios::trunc) << good;
    fs::resize_file(db, good.size() / 2);
    expect_refused(start(dir.path()), db, "is damaged (truncated or corrupt)");
    EXPECT_EQ(fs::file_size(db), good.size() / 2);

    // Pages in the middle overwritten.
    std::string bad = good;
    for (size_t i = good.size() / 3; i < good.size() / 3 + 8192; i++)
        bad[i] = static_cast<char>(i * 7 + 13);
    std::ofstream(db, std::ios::binary | std::ios::trunc) << bad;
    fs::remove(db + "-shm");
    expect_refused(start(dir.path()), db, "is damaged (truncated or corrupt)");
    EXPECT_EQ(bytes(db), bad);

    // The header overwritten: not a database at all.
    bad = good;
    bad.replace(0, 16, "not sqlite, sorry");
    std::ofstream(db, std::ios::binary | std::ios::trunc) << bad;
    fs::remove(db + "-shm");
    expect_refused(start(dir.path()), db, "not a database");

    // The intact file starts again with everything in it.
    std::ofstream(db, std::ios::binary | std::ios::trunc) << good;
    fs::remove(db + "-shm");
    control_daemon d(dir.path());
    ASSERT_TRUE(d.start());
    v1::ListServerGroupsRequest q;
    q.set_page_size(1000);
    v1::ListServerGroupsResponse r;
    grpc::ClientContext ctx;
    ASSERT_TRUE(d.stub()->ListServerGroups(&ctx, q, &r).ok());
    EXPECT_EQ(r.server_groups_size(), 150);
    EXPECT_EQ(d.stop(), 0);
}

/** Makes `path` unwritable for this process (chattr +i as root) and undoes it on destruction. */
class unwritable {
  public:
    explicit unwritable(const std::string &path) : path_(path) {
        if (geteuid() == 0)
            ok_ = std::system(("chattr +i '" + path + "' 2>/dev/null").c_str()) == 0;
        else
            ok_ = chmod(path.c_str(), fs::is_directory(path) ? 0555 : 0444) == 0;
    }
    ~unwritable() {
        if (geteuid() == 0)
            std::system(("chattr -i '" + path_ + "' 2>/dev/null").c_str());
        else
            chmod(path_.c_str(), fs::is_directory(path_) ? 0755 : 0644);
    }
    bool ok() const { return ok_; }

  private:
    std::string path_;
    bool ok_ = false;
};

TEST(store_faults, not_writable_file_or_directory_is_refused) {
    temp_dir dir;
    const std::string sub = dir.path() + "/state";
    fs::create_directory(sub);
    const std::string db = sub + "/state.db";
    fill(sub, 2);
    fs::remove(sub + "/state.db-shm");
    fs::remove(sub + "/state.db-wal");
    const std::string before = bytes(db);
    {
        unwritable lock(db);
        if (!lock.ok()) GTEST_SKIP() << "skipped: chattr +i is not supported on " << sub;
        expect_refused(start(sub), db, "is not writable");
    }
    EXPECT_EQ(bytes(db), before);
    {
        unwritable lock(sub);
        ASSERT_TRUE(lock.ok());
        expect_refused(start(sub), "state directory " + sub, "is not writable");
        // A first start in an unwritable directory is refused the same way.
        auto r = run_program({control_binary(), "--state", sub + "/other.db", "--init-state",
                              "--listen", "unix:" + dir.path() + "/c.sock"});
        expect_refused(r, sub, "is not writable");
    }
    EXPECT_EQ(bytes(db), before);
    EXPECT_FALSE(fs::exists(sub + "/other.db"));
    // Writable again: it starts.
    control_daemon d(sub);
    ASSERT_TRUE(d.start());
    EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace nlb::test
