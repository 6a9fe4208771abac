#!/usr/bin/env bash
# NetworKit / igraph peer benchmark (PageRank, LFR generation, PLM community detection).
#   benches/networkit/run.sh pagerank EDGES.snap
#   benches/networkit/run.sh lfr --nodes N [--avg-degree 20 --max-degree 200 --mu 0.3] --seed S \
#                                --out-edges FILE --out-truth FILE
#   benches/networkit/run.sh plm EDGES.snap TRUTH
# See nk_bench.py / README.md. Prints one JSON object on stdout; logs go to stderr.
# Env: NK_THREADS=N overrides the thread count (default 2).
set -euo pipefail

NETWORKIT_VERSION=11.2.2   # binary wheel cp311 manylinux_2_28 on PyPI
IGRAPH_VERSION=1.0.0       # binary wheel cp39-abi3 manylinux_2_28 on PyPI
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/../.venv"

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c "
import sys, networkit, igraph
sys.exit(networkit.__version__ != '$NETWORKIT_VERSION' or igraph.__version__ != '$IGRAPH_VERSION')
" 2>/dev/null; then
    # --only-binary: never fall back to compiling NetworKit/igraph from source (takes ages on 2 cores).
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        --only-binary=networkit,igraph \
        "networkit==$NETWORKIT_VERSION" "igraph==$IGRAPH_VERSION" >&2
fi

exec "$venv/bin/python" "$here/nk_bench.py" "$@"
