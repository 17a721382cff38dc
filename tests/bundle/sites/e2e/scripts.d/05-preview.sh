#!/usr/bin/env bash
# Only reports, so it declares itself safe to preview (it runs under --check, with HYPERPOD_CHECK=1).
# hyperpod: check-safe
echo "preview check=${HYPERPOD_CHECK} platform=${HYPERPOD_PLATFORM} gpu=${HYPERPOD_GPU} color=${SITE_COLOR}"
