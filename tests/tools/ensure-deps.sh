#!/usr/bin/env bash
# Make sure the machine has what the tests, the demo and the bundle need: Debian's docker engine,
# debootstrap (node images), shellcheck, rsync, a C compiler (the pause image, the glibc check's
# probe), binutils (readelf, for the glibc the bundle's compiled extensions need), and a running
# docker engine. Idempotent: installs only what is missing and starts dockerd only when none answers.
# Prints "started-dockerd <pid>" when it started one (the caller may stop it when done).
set -euo pipefail
LOG_DIR=${LOG_DIR:-/var/tmp/hyperpod-eks-lifecycle/deps}
mkdir -p "$LOG_DIR"

need=()
for pkg in docker.io debootstrap shellcheck rsync make gcc libc6-dev binutils; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "[deps] installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >"$LOG_DIR/apt.log" 2>&1 \
    || { tail -30 "$LOG_DIR/apt.log" >&2; exit 1; }
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi
# PID 1 is not systemd on these machines, so dockerd is started by hand: no bridge and no iptables
# (the test nodes run with --network none), and a dead proxy so that an accidental registry pull
# fails at once instead of reaching out. A stale pid file from a killed dockerd would block it.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  rm -f /var/run/docker.pid
fi
HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=localhost,127.0.0.1 \
  nohup dockerd --host=unix:///var/run/docker.sock --storage-driver=overlay2 \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false >"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
docker info >/dev/null 2>&1 || { tail -30 "$LOG_DIR/dockerd.log" >&2; exit 1; }
echo "[deps] started dockerd (pid $pid, log $LOG_DIR/dockerd.log)" >&2
echo "started-dockerd $pid"
