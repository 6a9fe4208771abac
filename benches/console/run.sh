#!/usr/bin/env bash
# The console's timings as a benchmark (issue 23): the browser tests against a release
# `daira serve --demo`, each timing the median of 7 runs and asserted against its target —
# the largest community's view interactive ≤ 1 s from navigation start, search results
# ≤ 200 ms after Enter. Run it on a quiet machine: a build or another job beside it inflates
# every figure. Needs Debian's chromium (apt) and `npm ci --prefix console/tests`.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p daira
[ -d console/tests/node_modules ] || npm ci --prefix console/tests --no-audit --no-fund
DAIRA_BIN=target/release/daira DAIRA_CONSOLE_BENCH=1 DAIRA_CONSOLE_ARTIFACTS=target/console-bench \
  node console/tests/console.test.mjs
