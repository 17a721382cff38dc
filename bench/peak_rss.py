"""Run a command and print its wall time and the peak memory of its whole process tree, as JSON.

    python3 peak_rss.py OUT.json COMMAND [ARG...]

Every 20 ms the resident memory of the command and of all its descendants (found through
/proc/PID/task/TID/children, so that sampling costs little CPU) is summed; the largest sum is the
peak. Processes that systemd starts on the command's behalf (containerd after a
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


PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def children(pid):
    found = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as handle:
                found.extend(int(child) for child in handle.read().split())
    except (IOError, OSError, ValueError):
        pass
    return found


def tree_rss_kib(root):
    total = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            with open("/proc/%d/statm" % pid) as handle:
                total += int(handle.read().split()[1]) * PAGE_KIB
        except (IOError, OSError, ValueError, IndexError):
            continue
        todo.extend(children(pid))
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
