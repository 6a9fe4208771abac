#!/usr/bin/env python3
"""NetworKit (and igraph) peer benchmark for DAIRA.

Subcommands (each prints exactly one JSON object on stdout; logs go to stderr):

  pagerank EDGES
      EDGES: SNAP edge list (`src<TAB>dst`, `#` comments, integer ids, may be sparse).
      Times NetworKit PageRank (damp 0.85, tol 0, exactly 20 iterations via the
      `maxIterations` property) and igraph's PRPACK PageRank on the same directed graph.

  lfr --nodes N [--avg-degree 20] [--max-degree 200] [--mu 0.3] [--min-community 20]
      [--max-community 1000] [--degree-exp 2] [--community-exp 1] --seed S
      --out-edges FILE --out-truth FILE
      Generates an LFR benchmark graph with NetworKit's LFRGenerator and writes the
      undirected edges (`u<TAB>v`, each edge once, ids 0..n-1) and the ground truth
      (`node<TAB>community`).

  rmat --scale S [--edge-factor 16] --seed S --out-edges FILE --out-truth FILE
      An undirected R-MAT graph (a=.57 b=.19 c=.19 d=.05), self-loops and repeated edges
      removed; the truth file puts every node in community 0.

  plm EDGES TRUTH [--repeat N]
      Reads the undirected edge list (ids 0..n-1) and the ground truth, runs
      NetworKit PLM with and without refinement and reports time (with refinement:
      the median of N runs), modularity, NMI (of the last run).

Threads: 2 by default (NK_THREADS overrides), set with networkit.setNumberOfThreads.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import networkit as nk

THREADS = int(os.environ.get("NK_THREADS", "2"))
PAGERANK_ITERATIONS = 20


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def setup():
    nk.engineering.setLogLevel("ERROR")
    nk.setNumberOfThreads(THREADS)
    got = nk.getMaxNumberOfThreads()  # getCurrentNumberOfThreads() is 1 outside a parallel region
    log(f"networkit {nk.__version__}, threads {got}")
    return got


def emit(obj):
    print(json.dumps(obj), flush=True)


# --------------------------------------------------------------------------- pagerank

def cmd_pagerank(args):
    threads = setup()
    import igraph as ig

    t0 = time.perf_counter()
    # continuous=False: SNAP ids may be sparse; the reader compacts them to 0..n-1.
    reader = nk.graphio.EdgeListReader("\t", 0, commentPrefix="#", continuous=False, directed=True)
    G = reader.read(args.edges)
    read_s = time.perf_counter() - t0
    n, m = G.numberOfNodes(), G.numberOfEdges()
    log(f"read {args.edges}: {n} nodes, {m} edges in {read_s:.2f}s")

    # The compared figure is the median of --repeat runs on the graph in memory.
    times = []
    for _ in range(args.repeat):
        pr = nk.centrality.PageRank(G, damp=0.85, tol=0.0)
        pr.maxIterations = PAGERANK_ITERATIONS
        t0 = time.perf_counter()
        pr.run()
        times.append(time.perf_counter() - t0)
        iters = pr.numberOfIterations()
        if iters != PAGERANK_ITERATIONS:
            raise SystemExit(f"networkit ran {iters} iterations, expected {PAGERANK_ITERATIONS}")
    times.sort()
    nk_s = times[len(times) // 2]
    log(f"networkit PageRank: {PAGERANK_ITERATIONS} iterations, runs {', '.join(f'{t:.3f}' for t in times)} s")
    if args.no_igraph:
        emit({"nodes": n, "edges": m, "networkit_pagerank_20_s": round(nk_s, 6),
              "networkit_pagerank_iterations": PAGERANK_ITERATIONS, "networkit_read_s": round(read_s, 3),
              "threads": threads, "networkit_version": nk.__version__})
        return

    # Hand igraph the very same (compacted, deduplicated) graph: write it with
    # NetworKit's writer (`u v`, 0-based) and read it with igraph's C reader.
    with tempfile.TemporaryDirectory(prefix="nk_bench_") as tmp:
        path = os.path.join(tmp, "g.el")
        nk.graphio.EdgeListWriter(" ", 0).write(G, path)
        g = ig.Graph.Read_Edgelist(path, directed=True)
    if g.vcount() < G.upperNodeIdBound():
        g.add_vertices(G.upperNodeIdBound() - g.vcount())
    if g.ecount() != m:
        raise SystemExit(f"igraph graph has {g.ecount()} edges, networkit {m}")

    t0 = time.perf_counter()
    g.pagerank(directed=True, damping=0.85, implementation="prpack")
    ig_s = time.perf_counter() - t0
    log(f"igraph PageRank (PRPACK): {ig_s:.3f}s")

    emit({
        "nodes": n,
        "edges": m,
        "networkit_pagerank_20_s": round(nk_s, 6),
        "igraph_pagerank_s": round(ig_s, 6),
        "networkit_pagerank_iterations": iters,
        "networkit_read_s": round(read_s, 3),
        "threads": threads,
        "networkit_version": nk.__version__,
        "igraph_version": ig.__version__,
    })


# --------------------------------------------------------------------------- lfr

def cmd_lfr(args):
    threads = setup()
    nk.engineering.setSeed(args.seed, True)  # per-thread streams seed+tid; fixed 2 threads => reproducible

    t0 = time.perf_counter()
    lfr = nk.generators.LFRGenerator(args.nodes)
    # NetworKit takes the power-law exponents as negative numbers (gamma must be <= -1).
    lfr.generatePowerlawDegreeSequence(args.avg_degree, args.max_degree, -abs(args.degree_exp))
    lfr.generatePowerlawCommunitySizeSequence(args.min_community, args.max_community, -abs(args.community_exp))
    lfr.setMu(args.mu)
    lfr.run()
    gen_s = time.perf_counter() - t0
    G = lfr.getGraph()
    P = lfr.getPartition()
    n, m = G.numberOfNodes(), G.numberOfEdges()
    log(f"LFR: {n} nodes, {m} edges, {P.numberOfSubsets()} communities in {gen_s:.2f}s")
    if G.upperNodeIdBound() != n:
        raise SystemExit("LFR graph ids are not 0..n-1")

    t0 = time.perf_counter()
    header = (
        f"# LFR (networkit {nk.__version__} LFRGenerator) n={n} avg_degree={args.avg_degree} "
        f"max_degree={args.max_degree} degree_exp=-{abs(args.degree_exp)} "
        f"community_sizes=[{args.min_community},{args.max_community}] community_exp=-{abs(args.community_exp)} "
        f"mu={args.mu} seed={args.seed} threads={threads}\n"
        f"# undirected, each edge once, ids 0..{n - 1}: {m} edges\n"
        f"# FromNodeId\tToNodeId\n"
    )
    out_dir = os.path.dirname(os.path.abspath(args.out_edges))
    with tempfile.NamedTemporaryFile("w", dir=out_dir, prefix=".nk_lfr_", delete=False) as tmp:
        tmp_path = tmp.name
    try:
        # bothDirections=False: each undirected edge written once.
        nk.graphio.EdgeListWriter("\t", 0, False).write(G, tmp_path)
        with open(args.out_edges, "w") as out, open(tmp_path) as body:
            out.write(header)
            shutil.copyfileobj(body, out, 1 << 20)
    finally:
        os.unlink(tmp_path)

    vec = P.getVector()
    with open(args.out_truth, "w") as out:
        out.write(f"# LFR ground truth for {os.path.basename(args.out_edges)}: node<TAB>community\n")
        chunk = 1 << 16
        for s in range(0, n, chunk):
            out.write("".join(f"{u}\t{vec[u]}\n" for u in range(s, min(n, s + chunk))))
    write_s = time.perf_counter() - t0
    log(f"wrote {args.out_edges} and {args.out_truth} in {write_s:.2f}s")

    emit({
        "nodes": n,
        "edges": m,
        "communities": P.numberOfSubsets(),
        "lfr_generate_s": round(gen_s, 3),
        "write_s": round(write_s, 3),
        "avg_degree": args.avg_degree,
        "max_degree": args.max_degree,
        "degree_exp": -abs(args.degree_exp),
        "min_community": args.min_community,
        "max_community": args.max_community,
        "community_exp": -abs(args.community_exp),
        "mu": args.mu,
        "seed": args.seed,
        "threads": threads,
        "networkit_version": nk.__version__,
    })


# --------------------------------------------------------------------------- rmat

def cmd_rmat(args):
    """An R-MAT graph (Graph500 parameters), undirected, for clusters on a graph with no planted
    structure; the truth file puts every node in community 0 (only `plm` needs one)."""
    threads = setup()
    nk.engineering.setSeed(args.seed, True)
    t0 = time.perf_counter()
    G = nk.generators.RmatGenerator(args.scale, args.edge_factor, 0.57, 0.19, 0.19, 0.05).generate()
    G.removeSelfLoops()
    G.removeMultiEdges()
    gen_s = time.perf_counter() - t0
    n, m = G.upperNodeIdBound(), G.numberOfEdges()
    log(f"R-MAT scale {args.scale}: {G.numberOfNodes()} nodes with ids below {n}, {m} edges in {gen_s:.2f}s")
    nk.graphio.EdgeListWriter("\t", 0, False).write(G, args.out_edges)
    with open(args.out_truth, "w") as out:
        out.write("".join(f"{u}\t0\n" for u in range(n)))
    emit({"nodes": G.numberOfNodes(), "edges": m, "generate_s": round(gen_s, 3), "scale": args.scale,
          "edge_factor": args.edge_factor, "seed": args.seed, "threads": threads})


# --------------------------------------------------------------------------- plm

def read_truth(path, G):
    """`node<TAB>community` lines -> Partition over G's node ids (0..n-1)."""
    nodes, comms = [], []
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            u, c = line.split()
            nodes.append(int(u))
            comms.append(int(c))
    bound = max(nodes) + 1
    if bound > G.upperNodeIdBound():  # isolated trailing nodes absent from the edge list
        G.addNodes(bound - G.upperNodeIdBound())
    if len(nodes) != G.numberOfNodes():
        raise SystemExit(f"truth has {len(nodes)} nodes, graph {G.numberOfNodes()}")
    P = nk.structures.Partition(G.upperNodeIdBound())
    P.setUpperBound(max(comms) + 1)
    for u, c in zip(nodes, comms):
        P.addToSubset(c, u)
    return P


def cmd_plm(args):
    threads = setup()
    t0 = time.perf_counter()
    # continuous=True, firstNode=0: the lfr writer emits ids 0..n-1, so file ids == node ids
    # (and the truth file's ids line up without a node map).
    reader = nk.graphio.EdgeListReader("\t", 0, commentPrefix="#", continuous=True, directed=False)
    G = reader.read(args.edges)
    truth = read_truth(args.truth, G)
    n, m = G.numberOfNodes(), G.numberOfEdges()
    log(f"read {args.edges}: {n} nodes, {m} edges, truth {truth.numberOfSubsets()} communities "
        f"in {time.perf_counter() - t0:.2f}s")

    res = {"nodes": n, "edges": m}
    for refine, key in ((True, "plm"), (False, "plm_norefine")):
        # Each figure is the median of --repeat runs on the graph in memory.
        runs = args.repeat
        times = []
        for _ in range(runs):
            plm = nk.community.PLM(G, refine=refine, gamma=1.0)
            t0 = time.perf_counter()
            plm.run()
            times.append(time.perf_counter() - t0)
        times.sort()
        s = times[len(times) // 2]
        if runs > 1:
            log(f"PLM refine={refine} runs: {', '.join(f'{t:.3f}' for t in times)} s")
        part = plm.getPartition()
        q = nk.community.Modularity().getQuality(part, G)
        nmi = 1.0 - nk.community.NMIDistance().getDissimilarity(G, part, truth)
        k = part.numberOfSubsets()
        log(f"PLM refine={refine}: {s:.3f}s, modularity {q:.4f}, NMI {nmi:.4f}, {k} communities")
        res[f"{key}_s"] = round(s, 6)
        res[f"{key}_modularity"] = round(q, 9)
        res[f"{key}_nmi"] = round(nmi, 6)
        res[f"{key}_communities"] = k
    res["truth_modularity"] = round(nk.community.Modularity().getQuality(truth, G), 6)
    res["truth_communities"] = truth.numberOfSubsets()
    res["threads"] = threads
    res["networkit_version"] = nk.__version__
    emit(res)


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("pagerank", help="NetworKit 20-iteration PageRank vs igraph PRPACK")
    p.add_argument("edges")
    p.add_argument("--repeat", type=int, default=1, help="runs on the graph in memory; the median is reported")
    p.add_argument("--no-igraph", action="store_true", help="leave igraph's PRPACK out")
    p.set_defaults(func=cmd_pagerank)

    p = sub.add_parser("lfr", help="generate an LFR benchmark graph")
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--avg-degree", type=int, default=20)
    p.add_argument("--max-degree", type=int, default=200)
    p.add_argument("--mu", type=float, default=0.3)
    p.add_argument("--min-community", type=int, default=20)
    p.add_argument("--max-community", type=int, default=1000)
    p.add_argument("--degree-exp", type=float, default=2.0, help="tau1; passed to NetworKit as -tau1")
    p.add_argument("--community-exp", type=float, default=1.0, help="tau2; passed to NetworKit as -tau2")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out-edges", required=True)
    p.add_argument("--out-truth", required=True)
    p.set_defaults(func=cmd_lfr)

    p = sub.add_parser("rmat", help="generate an undirected R-MAT graph (Graph500 parameters)")
    p.add_argument("--scale", type=int, required=True)
    p.add_argument("--edge-factor", type=int, default=16)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out-edges", required=True)
    p.add_argument("--out-truth", required=True)
    p.set_defaults(func=cmd_rmat)

    p = sub.add_parser("plm", help="NetworKit PLM on an undirected edge list vs ground truth")
    p.add_argument("edges")
    p.add_argument("truth")
    p.add_argument("--repeat", type=int, default=1, help="PLM (refine) runs; the median is reported")
    p.set_defaults(func=cmd_plm)

    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
