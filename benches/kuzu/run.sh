#!/usr/bin/env bash
# Kuzu peer benchmark.
#   benches/kuzu/run.sh EDGES.csv [--queries N] [--db DIR] [--seed S]
# EDGES.csv: `src,dst` integer ids, one edge per line, no header (see kuzu_bench.py).
# Env: KUZU_THREADS=N caps Kuzu's worker threads. Prints one JSON object on stdout.
set -euo pipefail

KUZU_VERSION=0.11.3   # last release on PyPI (the Kuzu project is archived)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/../.venv"

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c "import kuzu, sys; sys.exit(kuzu.__version__ != '$KUZU_VERSION')" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kuzu==$KUZU_VERSION" >&2
fi

exec "$venv/bin/python" "$here/kuzu_bench.py" "$@"
