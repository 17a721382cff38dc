"""Run a command and print its wall time and the peak memory of its whole process tree, as JSON.

    python3 peak_rss.py OUT.json COMMAND [ARG...]

Every 20 ms the resident memory (VmRSS) of the command and of all its descendants is summed; the
largest sum is the peak. Processes that systemd starts on the command's behalf (containerd after a
restart) are not descendants and are not counted. Short-lived processes between two samples can be
missed; ru_maxrss of the largest waited-for descendant is printed too, as a lower bound.
The command's exit code is passed on. Standard library only, Python 3.7+.
"""

import json
import os
import resource
import subprocess
import sys
import time

INTERVAL = 0.02


def tree_rss_kib(root):
    parents = {}
    rss = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/status" % entry) as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except (IOError, OSError, ValueError):
            continue
        pid = int(entry)
        parents[pid] = int(fields.get("PPid", "0").strip() or 0)
        value = fields.get("VmRSS", "").strip().split()
        rss[pid] = int(value[0]) if value else 0
    total = 0
    for pid in rss:
        walk = pid
        while walk and walk != root:
            walk = parents.get(walk, 0)
        if walk == root:
            total += rss[pid]
    return total


def main():
    out, command = sys.argv[1], sys.argv[2:]
    started = time.monotonic()
    proc = subprocess.Popen(command)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kib(proc.pid))
        time.sleep(INTERVAL)
    wall = time.monotonic() - started
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(out, "w") as handle:
        json.dump({"rc": proc.returncode, "wall_seconds": round(wall, 3), "peak_tree_rss_kib": peak,
                   "largest_process_rss_kib": largest}, handle)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
