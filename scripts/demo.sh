#!/usr/bin/env bash
# Sets up the environment, then runs the offline demo suite with the log-mel baseline and the
# noise (chance-level) encoder, and prints the summary table. No network needed.
#   XARES_ROOT   where data, cache, results and outputs go (default: ~/.xares-hydra)
set -euo pipefail
cd "$(dirname "$0")/.."
# the package alone: the demo needs no test tools
XARES_EXTRAS="${XARES_EXTRAS-}" source scripts/setup_env.sh

xares +benchmark=demo encoder=mel,noise "$@"
