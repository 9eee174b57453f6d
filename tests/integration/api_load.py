#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""API load for the restart test (restart_lab_test.sh): one nlbctl call after another against
nlb-control, recording what was acknowledged, so that after a kill -9 and a restart the test can
check that every acknowledged change is still there.

Operations, in a cycle: create server group ld-N (a virtual group with one instance), update the
backend service's persistence timeout (a change the dataplane receives), delete the server group
created three steps before (if it was acknowledged). Before each call it writes "try OP ARG" to
the log, after it "ack OP ARG" (exit 0) or "err OP ARG: message" (anything else); lines are
flushed at once. While the file PAUSE exists it makes no call and writes "paused" once.

The loop is bounded: it stops after --max-ops calls or --max-seconds, or on SIGTERM.

usage: api_load.py NLBCTL SOCKET LOG PAUSE [--lb lab] [--bs web] [--max-ops N] [--max-seconds S]
"""
import argparse
import os
import signal
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nlbctl")
    ap.add_argument("socket")
    ap.add_argument("log")
    ap.add_argument("pause")
    ap.add_argument("--lb", default="lab")
    ap.add_argument("--bs", default="web")
    ap.add_argument("--max-ops", type=int, default=20000)
    ap.add_argument("--max-seconds", type=float, default=900)
    a = ap.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    out = open(a.log, "a", buffering=1)
    acked_groups = []
    n = 0
    t_end = time.monotonic() + a.max_seconds
    paused = False
    while not stop and n < a.max_ops and time.monotonic() < t_end:
        if os.path.exists(a.pause):
            if not paused:
                out.write("paused\n")
                paused = True
            time.sleep(0.02)
            continue
        paused = False
        step = n % 3
        if step == 0:
            op, arg = "create", "ld-%d" % n
            args = ["server-group", "create", arg, "--type", "virtual", "--region", "r1",
                    "--vpc", "v1", "--zone", "z1", "--instance", "id=x,ip=198.19.0.99"]
        elif step == 1:
            op, arg = "persist", str(60 + n % 3000)
            args = ["backend-service", "update", a.bs, "--lb", a.lb, "--persistence", arg]
        else:
            if not acked_groups:
                n += 1
                continue
            op, arg = "delete", acked_groups.pop(0)
            args = ["server-group", "delete", arg]
        n += 1
        out.write("try %s %s\n" % (op, arg))
        r = subprocess.run([a.nlbctl, "--server", "unix:" + a.socket] + args,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode == 0:
            out.write("ack %s %s\n" % (op, arg))
            if op == "create":
                acked_groups.append(arg)
        else:
            msg = r.stderr.strip().splitlines()
            out.write("err %s %s: %s\n" % (op, arg, msg[-1] if msg else "exit %d" % r.returncode))
    out.write("end %d ops\n" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
