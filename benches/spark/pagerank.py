"""PageRank over `daira export --format parquet` with Spark DataFrames (local mode here; the
same job runs on a cluster by changing the master).

    pagerank.py PARQUET_DIR OUT.csv [--top 1000] [--damping 0.85] [--tolerance 1e-9]
                [--iterations 100]

The same PageRank as `daira analyze pagerank`: unit weights over the exported edges, uniform
teleport over every vertex, the mass of vertices without out-edges spread uniformly, iterated
until the L1 change of an iteration falls below the tolerance. Writes `id,score` rows (the
vertex's external id, or DAIRA's id where it has none) for the top vertices, best first, and
one JSON line of timings on stdout.
"""

import argparse
import json
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("parquet")
    parser.add_argument("out")
    parser.add_argument("--top", type=int, default=1000)
    parser.add_argument("--damping", type=float, default=0.85)
    parser.add_argument("--tolerance", type=float, default=1e-9)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    started = time.time()
    spark = (
        SparkSession.builder.master(args.master)
        .appName("daira-pagerank")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", "4g")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    vertices = spark.read.parquet(f"{args.parquet}/vertices.parquet").select(
        F.col("index").cast("long").alias("v"), "id", "external_id"
    )
    edges = (
        spark.read.parquet(f"{args.parquet}/edges.parquet")
        .select(F.col("src").cast("long").alias("src"), F.col("dst").cast("long").alias("dst"))
        .distinct()
    )
    n = vertices.count()
    d = args.damping
    degrees = edges.groupBy("src").agg(F.count("*").alias("degree"))
    # Each edge carries 1/degree of its source's rank: joined once, kept.
    links = edges.join(degrees, "src").select("src", "dst", (1.0 / F.col("degree")).alias("share")).cache()
    dangling = vertices.join(degrees.withColumnRenamed("src", "v"), "v", "left_anti").select("v").cache()
    ids = vertices.select("v").cache()
    ranks = ids.withColumn("rank", F.lit(1.0 / n)).localCheckpoint()
    loaded = time.time()

    iterations, delta = 0, float("inf")
    while iterations < args.iterations and delta >= args.tolerance:
        lost = dangling.join(ranks, "v").agg(F.sum("rank")).first()[0] or 0.0
        received = (
            links.join(ranks.withColumnRenamed("v", "src"), "src")
            .groupBy("dst")
            .agg(F.sum(F.col("rank") * F.col("share")).alias("inflow"))
            .withColumnRenamed("dst", "v")
        )
        base = (1.0 - d) / n + d * lost / n
        fresh = (
            ids.join(received, "v", "left")
            .select("v", (F.lit(base) + d * F.coalesce(F.col("inflow"), F.lit(0.0))).alias("rank"))
            .localCheckpoint()
        )
        delta = (
            fresh.join(ranks.withColumnRenamed("rank", "old"), "v")
            .agg(F.sum(F.abs(F.col("rank") - F.col("old"))))
            .first()[0]
        )
        ranks = fresh
        iterations += 1
    computed = time.time()

    top = (
        ranks.join(vertices, "v")
        .select(F.coalesce(F.col("external_id"), F.col("id").cast("string")).alias("id"), "rank")
        .orderBy(F.col("rank").desc(), F.col("id"))
        .limit(args.top)
        .collect()
    )
    with open(args.out, "w") as out:
        out.write("id,score\n")
        for row in top:
            out.write(f"{row['id']},{row['rank']!r}\n")
    spark.stop()
    print(
        json.dumps(
            {
                "vertices": n,
                "iterations": iterations,
                "last_change": delta,
                "load_s": round(loaded - started, 2),
                "pagerank_s": round(computed - loaded, 2),
                "total_s": round(time.time() - started, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
