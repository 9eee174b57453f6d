#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench-datapath-smoke: a few seconds of nlb-bench-datapath (issue 6, benchmark 3).

Runs the io-forward baseline, nat_established (alone and interleaved with
the io-forward loop) and new_connections at their smallest sizes, both
two_lcores scaling runs and the host memory probe, each briefly, as JSON. Every benchmark must be present without an error and report
a rate above zero; nat_established must have dropped nothing, new_connections
must have made a connection of every SYN, and the 2-lcore lookups must have
moved packets on both lcores (a rate above the 1-lcore run's half).
Usage: smoke_test.py NLB_BENCH_DATAPATH
"""
import json
import subprocess
import sys

bench = sys.argv[1]
names = [
    "io_forward_baseline/10000",
    "nat_established/10000",
    "nat_vs_io_forward/10000/scattered:0",
    "new_connections/iterations:100000",
    "two_lcores/lcores:1/syn:0/iterations:1/manual_time",
    "two_lcores/lcores:2/syn:0/iterations:1/manual_time",
    "dram_random_load/chains:1/mb:192",
]
pattern = "^(" + "|".join(names) + ")$"
run = subprocess.run(
    [bench, "--benchmark_format=json", "--benchmark_min_time=0.05",
     "--benchmark_filter=" + pattern],
    capture_output=True, text=True, timeout=300)
if run.returncode != 0:
    print(run.stdout[-2000:], run.stderr[-2000:])
    sys.exit(f"FAIL: nlb-bench-datapath exited {run.returncode}")
results = {b["name"]: b for b in json.loads(run.stdout)["benchmarks"]}
failed = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failed.append(what)


for n in names:
    b = results.get(n)
    check(b is not None, f"{n} ran")
    if b is None:
        continue
    check("error_message" not in b, f"{n} without error {b.get('error_message', '')}")
    rate = b.get("Mpps", b.get("items_per_second", 0))
    check(rate > 0, f"{n} rate {rate:.3f} above zero")

nat = results.get("nat_established/10000", {})
check(nat.get("dropped", -1) == 0, f"nat_established dropped {nat.get('dropped')} packets")
iv = results.get("nat_vs_io_forward/10000/scattered:0", {})
check(iv.get("dropped", -1) == 0 and 0 < iv.get("ratio", 0) < 1 and iv.get("nlb_ns", 0) > 0,
      f"nat_vs_io_forward: ratio {iv.get('ratio', 0):.3f}, nlb {iv.get('nlb_ns', 0):.1f} ns per "
      f"packet, dropped {iv.get('dropped')}")
syn = results.get("new_connections/iterations:100000", {})
check(syn.get("new_conns", 0) == 3_200_000 and syn.get("table_full", -1) == 0,
      f"new_connections made {syn.get('new_conns')} connections of 3200000 SYNs")
one = results.get("two_lcores/lcores:1/syn:0/iterations:1/manual_time", {}).get("Mpps", 0)
two = results.get("two_lcores/lcores:2/syn:0/iterations:1/manual_time", {}).get("Mpps", 0)
check(two > one / 2, f"2 lcores {two:.2f} Mpps against 1 lcore {one:.2f}")
dram = results.get("dram_random_load/chains:1/mb:192", {}).get("ns_per_load", 0)
check(dram > 0, f"memory probe {dram:.1f} ns per dependent load")
if failed:
    sys.exit(f"FAIL: {len(failed)} check(s)")
print("bench-datapath-smoke: every benchmark produced numbers")
