#!/usr/bin/env bash
# Fails, and is allowed to.
# hyperpod: allow-fail timeout=60
echo "optional-tool is not installed" >&2
exit 3
