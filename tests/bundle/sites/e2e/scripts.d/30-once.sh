#!/usr/bin/env bash
# Runs once per node: not again while its marker exists.
# hyperpod: creates=/var/lib/site-e2e/once.done
set -eu
mkdir -p /var/lib/site-e2e
echo "run" >>/var/lib/site-e2e/once-runs
touch /var/lib/site-e2e/once.done
