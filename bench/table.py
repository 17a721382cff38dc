"""Print bench/compare.sh's table: medians of the seed's script and the collection's play.

    python3 table.py RESULTS_DIR RUNS IMAGE
"""

import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

# The tasks whose time is containerd's restart or the data copy: everything else the play spends
# is its own overhead. Each pattern must match a task of a fresh node's run, or the table fails:
# a renamed task cannot silently move its time into (or out of) the overhead.
RESTART = re.compile(r"^(Restart containerd|Wait for containerd to answer)$")
COPY = re.compile(r"^al2023 \| (Stop containerd so that its data is consistent to copy|"
                  r"Copy containerd's data to a staging directory|Flush the copy to disk)$")
FACTS = {"hyperpod.eks_lifecycle.os_release_facts"}
# Actions that run on the controller only: every other task runs a module on the node.
CONTROLLER_ONLY = {"set_fact", "debug", "assert", "fail", "meta", "include_role", "include_tasks", "import_role",
                   "import_tasks", "validate_argument_spec", "add_host", "group_by", "include_vars"}
# Targets and the figures before this work (main at 604f3e4), in F, the floor.
TARGETS = {"fresh": 8.0, "rerun": 3.5}
BEFORE = {"fresh": 19.0, "rerun": 9.4}


def load(results, name):
    return json.loads((results / name).read_text())


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, unit=""):
    if value is None:
        return "-"
    return "%.2f%s" % (value, unit)


def play_split(report, playbook_wall):
    host = next(iter(report["hosts"].values()))
    tasks = host["tasks"]
    restart = sum(t["duration_seconds"] for t in tasks if RESTART.match(t["name"]))
    copy = sum(t["duration_seconds"] for t in tasks if COPY.match(t["name"]))
    facts = sum(t["duration_seconds"] for t in tasks if t["action"] in FACTS)
    roles = {r["name"].split(".")[-1]: r["duration_seconds"] for r in host["roles"]}
    module_calls = [t["duration_seconds"] for t in tasks if t["status"] in ("ok", "changed")
                    and t["action"].split(".")[-1] not in CONTROLLER_ONLY]
    return {
        "startup": playbook_wall - report["playbook"]["duration_seconds"],
        "facts": facts,
        "roles": roles,
        "play_tasks": sum(t["duration_seconds"] for t in tasks if not t["role"]),
        "in_play_outside_tasks": report["playbook"]["overhead_seconds"],
        "restart": restart,
        "copy": copy,
        "overhead": playbook_wall - restart - copy,
        "module_calls": len(module_calls),
        "module_call_median": median(module_calls),
        "matched": (any(RESTART.match(t["name"]) for t in tasks), any(COPY.match(t["name"]) for t in tasks)),
        "tasks": len(tasks),
    }


def main():
    results, runs, image = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rows = {}
    split = {"fresh": [], "rerun": []}
    for phase in ("fresh", "rerun"):
        seed = [load(results, "seed-%s-%d.measure.json" % (phase, r)) for r in range(1, runs + 1)]
        coll = [load(results, "collection-%s-%d.measure.json" % (phase, r)) for r in range(1, runs + 1)]
        rows[phase] = {
            "seed_wall": median(m["wall_seconds"] for m in seed),
            "coll_wall": median(m["wall_seconds"] for m in coll),
            "seed_peak": median(m["peak_tree_rss_kib"] / 1024 for m in seed),
            "coll_peak": median(m["peak_tree_rss_kib"] / 1024 for m in coll),
        }
        for r in range(1, runs + 1):
            report = load(results, "collection-%s-%d.report.json" % (phase, r))
            wall = float((results / ("collection-%s-%d.playbook-seconds" % (phase, r))).read_text().split()[0])
            split[phase].append(dict(play_split(report, wall), playbook=wall))
    if not all(all(s["matched"]) for s in split["fresh"]):
        sys.exit("table.py: the restart or copy task names no longer match a fresh run's tasks: update RESTART/COPY")
    restart_after = median(load(results, "seed-restart-%d.json" % r)["restart_seconds"] for r in range(1, runs + 1))

    def ratio(a, b):
        return "%.1fx" % (b / a) if a and b else "-"

    width = 58
    print()
    print("seed vs collection, %d runs each, medians; fresh AL2023 look-alike nodes (%s), offline" % (runs, image))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    day = time.strftime("%Y-%m-%d", time.gmtime())
    print("%s, %d cores, %.0f GiB, Linux %s" % (day, os.cpu_count(), memory, platform.release()))
    print()
    print("%-*s %10s %12s %10s" % (width, "", "seed", "collection", "ratio"))
    for phase, label in (("fresh", "fresh node"), ("rerun", "re-run")):
        row = rows[phase]
        print("%-*s %10s %12s %10s" % (width, "%s: whole on_create.sh (s)" % label, fmt(row["seed_wall"]),
                                       fmt(row["coll_wall"]), ratio(row["seed_wall"], row["coll_wall"])))
        print("%-*s %10s %12s %10s" % (width, "%s: peak memory of the run (MiB)" % label, fmt(row["seed_peak"]),
                                       fmt(row["coll_peak"]), ratio(row["seed_peak"], row["coll_peak"])))
    print("%-*s %10s %12s" % (width, "containerd restart the seed leaves undone (s)", fmt(restart_after), "in play"))
    print()
    print("the collection's ansible-playbook, split (s)%s %12s %10s" % (" " * (width - 44), "fresh", "re-run"))

    def line(label, key, sub=None):
        values = []
        for phase in ("fresh", "rerun"):
            items = [s[key] if sub is None else s[key].get(sub) for s in split[phase]]
            values.append(fmt(median(items)))
        print("%-*s %10s %12s" % (width, "  " + label, values[0], values[1]))

    line("ansible-playbook, whole", "playbook")
    line("Ansible start-up (before the play starts)", "startup")
    line("fact gathering (os_release_facts)", "facts")
    line("play tasks outside roles (facts included)", "play_tasks")
    for role in split["fresh"][0]["roles"]:
        line("role %s (tasks and handlers)" % role, "roles", role)
    line("in the play, outside any task (strategy, includes)", "in_play_outside_tasks")
    line("containerd restarts (handlers, waits)", "restart")
    line("data copy (stop, copy, flush)", "copy")
    line("tasks (count)", "tasks")
    line("of which run a module on the node (count)", "module_calls")
    line("module call, median (s)", "module_call_median")
    line("play's own overhead: all but restarts and copy", "overhead")
    floor = median(load(results, "floor-%d-%d.measure.json" % (r, f))["wall_seconds"]
                   for r in range(1, runs + 1) for f in (1, 2, 3))
    print()
    print("in F, the floor: a one-task local play with the bundle's runtime on the same node, %s s" % fmt(floor))
    print("%-*s %10s %12s" % (width, "", "fresh", "re-run"))
    ratios = dict((phase, rows[phase]["coll_wall"] / floor) for phase in ("fresh", "rerun"))
    print("%-*s %10s %12s" % (width, "  whole on_create.sh (F)", "%.1f" % ratios["fresh"], "%.1f" % ratios["rerun"]))
    print("%-*s %10s %12s" % (width, "  target (F)", "<= %.1f" % TARGETS["fresh"], "<= %.1f" % TARGETS["rerun"]))
    print("%-*s %10s %12s" % (width, "  met", *("yes" if ratios[p] <= TARGETS[p] else "no" for p in ("fresh", "rerun"))))
    print("%-*s %10s %12s" % (width, "  before (main at 604f3e4, F)", "%.1f" % BEFORE["fresh"], "%.1f" % BEFORE["rerun"]))
    seed = ["%.2f" % (rows[phase]["seed_wall"] / floor) for phase in ("fresh", "rerun")]
    print("%-*s %10s %12s" % (width, "  the seed's on_create.sh (F)", seed[0], seed[1]))
    own = ["%.1f" % (median(s["overhead"] for s in split[phase]) / floor) for phase in ("fresh", "rerun")]
    print("%-*s %10s %12s" % (width, "  play's own overhead, all but restarts and copy (F)", own[0], own[1]))


if __name__ == "__main__":
    main()
