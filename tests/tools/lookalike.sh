# shellcheck shell=bash
# Start Amazon Linux look-alike nodes (tests/images/build.sh) from shell scripts - the demo and the
# benchmarks - the way tests/lookalike.py does for the Python tests. Source this file.

# lookalike_run NAME IMAGE VOLUME: start a node named NAME: systemd as PID 1, no network, the
# directory VOLUME mounted at /opt/sagemaker.
lookalike_run() {
  docker run -d --name "$1" --hostname "$1" --network none --cap-add SYS_ADMIN --cgroupns=host \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
    -v "$3:/opt/sagemaker" "$2" >/dev/null
}

# lookalike_wait NAME: wait up to 60 s until the node's systemd is up and its containerd answers.
lookalike_wait() {
  for _ in $(seq 1 60); do
    docker exec "$1" sh -c 'ctr version >/dev/null 2>&1 && systemctl is-system-running | grep -qE "running|degraded"' \
      && return 0
    sleep 1
  done
  echo "node $1 did not boot in 60 s" >&2
  return 1
}
