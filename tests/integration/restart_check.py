#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks for the restart test (restart_lab_test.sh).

  restart_check.py acked LOG NLBCTL SOCKET
      LOG is api_load.py's log up to a kill of nlb-control. Reads the restarted nlb-control's
      state through nlbctl and checks every acknowledged change: each acknowledged created group
      exists (unless a later delete of it was attempted), each acknowledged deleted group is gone,
      and the persistence timeout is the last acknowledged one (or the one whose call was in
      flight at the kill: committed or not, both are right). Prints "acked N ..." and exits 0, or
      prints each mismatch and exits 1.

  restart_check.py poll AGENT DSOCK VIP OUT SECONDS
      Asks nlb-dataplane's agent for its services every ~30 ms for SECONDS (or until SIGTERM) and
      appends one line per answer to OUT: "EPOCH_MS PERSISTENCE ACTIVE TOTAL VERSION" for the
      service on VIP port 80 ("EPOCH_MS none" when it holds no such service, "EPOCH_MS down" when
      the agent does not answer).

  restart_check.py settle OUT T0_MS PERSISTENCE ACTIVE
      From poll's lines (unanswered polls left out): the milliseconds from T0_MS until the agent
      held PERSISTENCE with ACTIVE active backends and kept holding it to the end of OUT (0 when
      it held it already before T0_MS and never stopped); then the first answer after T0_MS, and
      the fewest active backends seen after T0_MS. Prints "SETTLE_MS FIRST_ANSWER_MS MIN_ACTIVE"
      ("never" for SETTLE_MS when the last answer does not match).
"""
import json
import signal
import subprocess
import sys
import time


def nlbctl_json(nlbctl, sock, args):
    r = subprocess.run([nlbctl, "--server", "unix:" + sock, "--output", "json"] + args,
                       capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError("nlbctl %s: %s" % (" ".join(args), r.stderr.strip()))
    return json.loads(r.stdout) if r.stdout.strip() else {}


def acked(log, nlbctl, sock):
    created, deleted, tried_delete = set(), set(), set()
    persist_acked, persist_after = None, []
    for line in open(log):
        parts = line.split()
        if len(parts) < 3 or parts[0] not in ("try", "ack"):
            continue
        kind, op, arg = parts[0], parts[1], parts[2]
        if op == "create" and kind == "ack":
            created.add(arg)
        elif op == "delete":
            if kind == "ack":
                deleted.add(arg)
            else:
                tried_delete.add(arg)
        elif op == "persist":
            if kind == "ack":
                persist_acked, persist_after = arg, []
            else:
                persist_after.append(arg)  # tried after the last ack: may have committed
    groups = set()
    token = ""
    while True:
        page = nlbctl_json(nlbctl, sock, ["server-group", "list", "--page-size", "1000"] +
                           (["--page-token", token] if token else []))
        groups.update(g["name"] for g in page.get("server_groups", []))
        token = page.get("next_page_token", "")
        if not token:
            break
    bs = nlbctl_json(nlbctl, sock, ["backend-service", "show", "web", "--lb", "lab"])
    persistence = str(bs.get("persistence_timeout_seconds", ""))
    bad = []
    for g in sorted(created - tried_delete):
        if g not in groups:
            bad.append("acknowledged group %s is missing" % g)
    for g in sorted(deleted):
        if g in groups:
            bad.append("acknowledged delete of %s is undone" % g)
    allowed = ([persist_acked] if persist_acked else []) + persist_after
    if persist_acked and persistence not in allowed:
        bad.append("persistence %s, acknowledged %s (in flight: %s)" %
                   (persistence, persist_acked, ",".join(persist_after) or "none"))
    for b in bad:
        print("mismatch:", b)
    n_persist = sum(1 for l in open(log) if l.startswith("ack persist"))
    print("acked %d creates, %d deletes, %d persistence updates; store persistence %s; %d groups" %
          (len(created), len(deleted), n_persist, persistence, len(groups)))
    return 1 if bad else 0


def poll(agent, dsock, vip, out, seconds):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    end = time.monotonic() + seconds
    with open(out, "a", buffering=1) as f:
        while not stop and time.monotonic() < end:
            r = subprocess.run([agent, "--socket", dsock, "--timeout", "1", "list-services"],
                               capture_output=True, text=True)
            now = int(time.time() * 1000)
            if r.returncode != 0 or not r.stdout.strip():
                f.write("%d down\n" % now)
            else:
                line = "%d none\n" % now
                for vs in json.loads(r.stdout).get("services", []):
                    s = vs["service"]
                    if s["key"]["vip"] == vip and int(s["key"].get("port", 0)) == 80:
                        backends = s.get("backends", [])
                        active = sum(1 for b in backends if b.get("state") == "ACTIVE")
                        line = "%d %s %d %d %s\n" % (now, s.get("persistence_timeout_s", 0), active,
                                                     len(backends), vs.get("version", 0))
                f.write(line)
            time.sleep(0.03)
    return 0


def settle(out, t0, persistence, active):
    rows = [l.split() for l in open(out) if l.strip()]
    answered = [r for r in rows if r[1] != "down"]  # a poll the agent did not answer says nothing
    after = [r for r in answered if int(r[0]) >= t0]
    if not after:
        print("never never none")
        return 0
    first = int(after[0][0]) - t0
    seen = [int(r[2]) for r in after if len(r) >= 4]
    ok = lambda r: len(r) >= 4 and r[1] == persistence and r[2] == active
    settle_ms = "never"
    if ok(answered[-1]):
        # The first answer of the final matching run; 0 when the dataplane matched already
        # before T0 (polling starts before the restart).
        i = len(answered) - 1
        while i > 0 and ok(answered[i - 1]):
            i -= 1
        settle_ms = str(max(0, int(answered[i][0]) - t0))
    print(settle_ms, first, min(seen) if seen else "none")
    return 0


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "acked" and len(sys.argv) == 5:
        return acked(*sys.argv[2:5])
    if cmd == "poll" and len(sys.argv) == 7:
        return poll(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]))
    if cmd == "settle" and len(sys.argv) == 6:
        return settle(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
