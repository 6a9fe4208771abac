#!/usr/bin/env bash
# DAIRA's tallies beside tallystick (issue 20): agreement on 10,000 random elections each for
# instant run-off and Schulze, then the speed of both on 1,000,000 ranked ballots over 10
# options, side by side in one process. tallystick needs RUSTC_BOOTSTRAP=1 (see Cargo.toml);
# its own target directory keeps that flag away from the workspace's build.
# Usage: benches/tallystick-peer/run.sh [BALLOTS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")"
RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=target cargo run --release -q -- "$@"
