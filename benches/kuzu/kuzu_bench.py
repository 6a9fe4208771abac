#!/usr/bin/env python3
"""Kuzu peer benchmark: bulk-load an edge list, then time 1-hop / 2-hop lookups.

Usage: kuzu_bench.py EDGES.csv [--queries N] [--db DIR] [--seed S]

EDGES.csv: one edge per line, `src,dst`, non-negative integer ids, NO header
(a first line whose first field is not an integer is treated as a header and
skipped). Duplicate edges are kept (Kuzu rel tables are multigraphs).

Schema: V(id INT64 PRIMARY KEY), E(FROM V TO V). A nodes CSV (distinct ids) is
derived from the edges first (timed as nodes_csv_s, not part of copy_total_s),
then `COPY V` and `COPY E` are timed by wall clock.

Env KUZU_THREADS=N caps Kuzu's worker threads (Database(max_num_threads=N);
applies to COPY and queries). Default: all cores.

Prints one JSON object on stdout; progress goes to stderr.
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
import warnings

import kuzu

HOP1 = "MATCH (a:V {id: $x})-[:E]->(b:V) RETURN b.id"
HOP2 = "MATCH (a:V {id: $x})-[:E]->(:V)-[:E]->(c:V) RETURN count(*)"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def has_header(path):
    with open(path) as f:
        first = f.readline().split(",")[0].strip()
    return not first.lstrip("-").isdigit()


def write_nodes_csv(edges_csv, nodes_csv, header):
    """Distinct vertex ids of the edge list, one per line. Returns the sorted ids."""
    ids = set()
    with open(edges_csv) as f:
        if header:
            next(f)
        for line in f:
            s, _, d = line.partition(",")
            if d:
                ids.add(int(s))
                ids.add(int(d))
    ids = sorted(ids)
    with open(nodes_csv, "w") as f:
        f.write("\n".join(map(str, ids)))
        f.write("\n")
    return ids


def timed_queries(conn, query, xs):
    # prepare() is deprecated in 0.11 but is ~10% faster than execute(str, params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        stmt = conn.prepare(query)
    for x in xs[:20]:  # warm-up
        conn.execute(stmt, {"x": x}).get_all()
    lat = []
    for x in xs:
        t = time.perf_counter_ns()
        conn.execute(stmt, {"x": x}).get_all()  # fetch every row
        lat.append((time.perf_counter_ns() - t) / 1e3)
    lat.sort()
    return lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("edges_csv")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--db", help="directory for the database (kept); default: temp dir (deleted)")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    edges_csv = os.path.abspath(args.edges_csv)
    header = has_header(edges_csv)
    workdir = os.path.abspath(args.db) if args.db else tempfile.mkdtemp(prefix="kuzu-bench-")
    os.makedirs(workdir, exist_ok=True)
    db_path = os.path.join(workdir, "bench.kuzu")  # Kuzu >= 0.11 stores a database as one file (+ .wal)
    for p in (db_path, db_path + ".wal"):
        if os.path.exists(p):
            os.remove(p)
    try:
        t = time.perf_counter()
        nodes_csv = os.path.join(workdir, "nodes.csv")
        ids = write_nodes_csv(edges_csv, nodes_csv, header)
        nodes_csv_s = time.perf_counter() - t
        log(f"nodes csv: {len(ids)} ids in {nodes_csv_s:.2f}s")

        threads = int(os.environ.get("KUZU_THREADS", "0"))  # 0 = Kuzu default (all cores)
        db = kuzu.Database(db_path, max_num_threads=threads)
        conn = kuzu.Connection(db)
        conn.execute("CREATE NODE TABLE V(id INT64 PRIMARY KEY)")
        conn.execute("CREATE REL TABLE E(FROM V TO V)")

        t = time.perf_counter()
        conn.execute(f"COPY V FROM '{nodes_csv}' (header=false)")
        copy_nodes_s = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute(f"COPY E FROM '{edges_csv}' (header={'true' if header else 'false'})")
        copy_edges_s = time.perf_counter() - t
        n_edges = conn.execute("MATCH ()-[e:E]->() RETURN count(*)").get_next()[0]
        log(f"copy: nodes {copy_nodes_s:.2f}s, edges {copy_edges_s:.2f}s ({n_edges} edges)")

        xs = random.Random(args.seed).choices(ids, k=args.queries)
        h1_med, h1_p99 = timed_queries(conn, HOP1, xs)
        h2_med, h2_p99 = timed_queries(conn, HOP2, xs)
        threads_used = conn.execute("CALL current_setting('threads') RETURN *").get_next()[0]

        print(json.dumps({
            "edges": n_edges,
            "vertices": len(ids),
            "nodes_csv_s": round(nodes_csv_s, 4),
            "copy_nodes_s": round(copy_nodes_s, 4),
            "copy_edges_s": round(copy_edges_s, 4),
            "copy_total_s": round(copy_nodes_s + copy_edges_s, 4),
            "copy_edges_per_s": round(n_edges / copy_edges_s),
            "queries": args.queries,
            "hop1_median_us": round(h1_med, 1),
            "hop1_p99_us": round(h1_p99, 1),
            "hop2_median_us": round(h2_med, 1),
            "hop2_p99_us": round(h2_p99, 1),
            "threads": int(threads_used),
            "kuzu_version": kuzu.__version__,
        }))
        conn.close()
        db.close()
    finally:
        if not args.db:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
