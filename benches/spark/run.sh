#!/usr/bin/env bash
# Analytics past one machine (issue 24): PageRank on Spark over `daira export --format parquet`,
# beside `daira analyze pagerank` on the same graph, and their top 100 compared.
#   benches/spark/run.sh [SCALE]      (R-MAT 2^SCALE vertices, 16 edges each; default 18)
# 1. `daira fixtures rmat` writes the edge list; `daira import` loads it into a data directory
#    and `daira export --format parquet` writes it out again (vertices.parquet, edges.parquet);
# 2. PySpark (PyPI, in benches/spark/.venv; local mode, 2 cores) runs pagerank.py on the export;
# 3. `daira analyze pagerank` runs on the edge list;
# 4. the two top-100 lists are compared (the issue asks for at least 95 in common).
# Every step is timed as a whole command. Exit status 1 when fewer than 95 agree.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
SCALE=${1:-18}
PYSPARK_VERSION=4.3.0
DAIRA=${DAIRA_BIN:-target/release/daira}
[[ -n "${DAIRA_BIN:-}" ]] || cargo build --release -q --bin daira -p daira
venv="$here/.venv"
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" >&2
if ! "$venv/bin/python" -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$PYSPARK_VERSION')" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "pyspark==$PYSPARK_VERSION" >&2
fi
command -v java >/dev/null || { echo "Spark needs Java 17 or newer (java is not on PATH)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
timed() {  # timed NAME COMMAND...: runs it, keeps its wall time in $work/NAME.s
    local start end
    start=$(date +%s.%N)
    "${@:2}"
    end=$(date +%s.%N)
    echo "$end - $start" | bc >"$work/$1.s"
}
timed rmat "$DAIRA" fixtures rmat --scale "$SCALE" --out "$work/rmat.snap" >/dev/null
timed import "$DAIRA" --data "$work/data" import --format snap "$work/rmat.snap" >/dev/null 2>&1
timed export "$DAIRA" --data "$work/data" export --format parquet --out "$work/parquet" 2>"$work/export.err"
timed spark "$venv/bin/python" "$here/pagerank.py" "$work/parquet" "$work/spark.csv" --top 100 >"$work/spark.json" 2>"$work/spark.err" \
    || { tail -20 "$work/spark.err" >&2; exit 1; }
timed daira "$DAIRA" analyze pagerank --edges "$work/rmat.snap" --format snap --out "$work/daira.csv" 2>"$work/daira.err"
tail -n +2 "$work/spark.csv" | cut -d, -f1 | sort >"$work/spark.top"
tail -n +2 "$work/daira.csv" | sort -t, -k2 -g -r >"$work/daira.ranked"
sed -n 1,100p "$work/daira.ranked" | cut -d, -f1 | sort >"$work/daira.top"
common=$(comm -12 "$work/spark.top" "$work/daira.top" | wc -l)
echo "R-MAT scale $SCALE: $(tail -1 "$work/export.err")"
printf '%-52s %10s\n' "step (whole command)" "seconds"
printf '%-52s %10.2f\n' "daira fixtures rmat" "$(cat "$work/rmat.s")"
printf '%-52s %10.2f\n' "daira import (snap)" "$(cat "$work/import.s")"
printf '%-52s %10.2f\n' "daira export --format parquet" "$(cat "$work/export.s")"
printf '%-52s %10.2f\n' "Spark PageRank (pagerank.py, local[2], JVM start in)" "$(cat "$work/spark.s")"
printf '%-52s %10.2f\n' "daira analyze pagerank (same graph, edge list)" "$(cat "$work/daira.s")"
echo "spark: $(cat "$work/spark.json")"
echo "top 100 in common: $common"
[[ "$common" -ge 95 ]]
