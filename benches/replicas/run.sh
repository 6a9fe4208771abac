#!/usr/bin/env bash
# Replicas on one PostgreSQL log (issue 24), measured in one run on this machine:
#   1. durable writes (`rate` mutations, wrk) through one replica alone;
#   2. the same through three replicas at once (one wrk per replica, each its own writer mask,
#      all rating one target), the log's appends racing: requests/s summed, conflicts counted;
#   3. the per-event cost of opening and applying another replica's events (daira_replica_follow_seconds
#      over daira_replica_followed_events, per follower);
#   4. replication lag under that load: a probe writes on replica 1 and reads on replica 2 with
#      X-Daira-Min-Seq set to the write's seq — the read's time, less an unwaited read's, is how
#      long replica 2 took to apply it (200 probes: p50, p99).
# Needs wrk, jq and the machine's PostgreSQL (DAIRA_BENCH_POSTGRES_URL, default
# postgres://root@127.0.0.1:5432/test). Usage: benches/replicas/run.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-15}
CONNS=${2:-16}
URL=${DAIRA_BENCH_POSTGRES_URL:-postgres://root@127.0.0.1:5432/test}
SCHEMA=bench_replicas_$$
for tool in wrk jq; do command -v $tool >/dev/null || apt-get install -y $tool >/dev/null; done
cargo build --release -q --bin daira -p daira
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"; psql "$URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; DROP SCHEMA IF EXISTS ${SCHEMA}_accounts CASCADE" >/dev/null 2>&1 || true' EXIT
start() {  # start N PORT
  ./target/release/daira --data "$work/r$1" --database-url "$URL" --pg-schema "$SCHEMA" --key-file "$work/keys.json" \
    serve --replica-id "$1" --listen "127.0.0.1:$2" --rate-per-ip 0 --rate-per-token 0 >"$work/r$1.out" 2>"$work/r$1.err" &
  for _ in $(seq 1 600); do grep -q listening "$work/r$1.out" 2>/dev/null && return; sleep 0.2; done
  echo "replica $1 did not start:" >&2; tail -5 "$work/r$1.err" >&2; exit 1
}
gql() { curl -s -H 'content-type: application/json' ${4:+-H "authorization: Bearer $4"} -d "$(jq -nc --arg q "$2" --argjson v "${3:-{\}}" '{query:$q,variables:$v}')" "http://127.0.0.1:$1/graphql"; }
writer() {  # writer PORT LOGIN: a token whose oldest mask is LOGIN
  local token
  token=$(gql "$1" 'mutation($l: String!) { register(input: {login: $l, password: "benchmark password"}) { token } }' "{\"l\":\"$2\"}" | jq -r .data.register.token)
  gql "$1" 'mutation($h: String!) { createMask(input: {kind: PUBLIC, handle: $h, displayName: $h}) { mask { id } } }' "{\"h\":\"$2\"}" "$token" >/dev/null
  echo "$token"
}
script() {  # script NAME TOKEN
  cat >"$work/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $2"
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"query":"mutation(\$m: ID!, \$r: Int!) { rate(input: {mask: \$m, rating: \$r}) { seq userErrors { code } } }","variables":{"m":"$target","r":%d}}', (n % 20) - 10 + (n % 20 >= 10 and 1 or 0))
  return wrk.format(nil, nil, nil, body)
end
-- Responses that are not a committed mutation: an HTTP error, or a GraphQL error (a commit
-- that lost the race for the log's head more times than the retries allow would be one).
local threads = {}
function setup(thread) table.insert(threads, thread) end
failed = 0
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then failed = failed + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("failed") end
  io.write(string.format("failed responses: %d\n", n))
end
LUA
}
rps() { awk '/Requests\/sec/ {print $2}' "$work/$1.wrk"; }
pct() { awk -v p="$2" '$1==p {print $2}' "$work/$1.wrk"; }
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1==m {print $2}'; }

start 1 8281
target_token=$(writer 8281 bench_target)
target=$(gql 8281 '{ mask(handle: "bench_target") { id } }' | jq -r .data.mask.id)
for r in 1 2 3; do script "w$r" "$(writer 8281 "bench_w$r")"; done

# 1. One replica alone.
wrk -t1 -c"$CONNS" -d"${SECONDS_EACH}s" --latency -s "$work/w1.lua" http://127.0.0.1:8281/graphql >"$work/alone.wrk"

# 2. Three replicas, a wrk on each at once.
start 2 8282
start 3 8283
sleep 2
loads=()
for r in 1 2 3; do
  wrk -t1 -c"$CONNS" -d"${SECONDS_EACH}s" --latency -s "$work/w$r.lua" "http://127.0.0.1:828$r/graphql" >"$work/three$r.wrk" &
  loads+=($!)
done
# 4. Lag probes under that load: write on 1, read on 2 with the write's seq, and the same
# read unwaited, alternately.
probe_token=$(writer 8281 bench_probe)
sleep 1
: >"$work/lag"
for i in $(seq 1 200); do
  seq=$(gql 8281 'mutation($m: ID!, $r: Int!) { rate(input: {mask: $m, rating: $r}) { seq } }' "{\"m\":\"$target\",\"r\":$(( (i % 2) * 2 - 1 ))}" "$probe_token" | jq -r .data.rate.seq)
  waited=$(curl -s -o /dev/null -w '%{time_total}' -H 'content-type: application/json' -H "x-daira-min-seq: $seq" -d '{"query":"{ __typename }"}' http://127.0.0.1:8282/graphql)
  plain=$(curl -s -o /dev/null -w '%{time_total}' -H 'content-type: application/json' -d '{"query":"{ __typename }"}' http://127.0.0.1:8282/graphql)
  echo "$waited $plain" >>"$work/lag"
done
probed=$(date +%s)
wait "${loads[@]}"
sleep 1
heads=$(for p in 8281 8282 8283; do curl -s "http://127.0.0.1:$p/healthz?hash" | jq -c '[.log_seq, .state_hash[0:16]]'; done | sort -u | wc -l)

echo
echo "replicas on one PostgreSQL log — ${SECONDS_EACH}s each, wrk -t1 -c$CONNS per replica, $(nproc) cores"
printf '%-46s %12s %10s %10s\n' "workload" "requests/s" "p50" "p99"
failed() { awk '/failed responses/ {print $3}' "$work/$1.wrk"; }
printf '%-46s %12s %10s %10s %8s\n' "durable rate, 1 replica alone" "$(rps alone)" "$(pct alone 50%)" "$(pct alone 99%)" "$(failed alone) failed"
total=0
for r in 1 2 3; do
  printf '%-46s %12s %10s %10s %8s\n' "durable rate, 3 replicas at once: replica $r" "$(rps three$r)" "$(pct three$r 50%)" "$(pct three$r 99%)" "$(failed three$r) failed"
  total=$(echo "$total + $(rps three$r)" | bc)
done
printf '%-46s %12s\n' "durable rate, 3 replicas at once: sum" "$total"
echo "3 replicas / 1 alone: $(echo "scale=2; $total / $(rps alone)" | bc)"
for p in 8281 8282 8283; do
  events=$(metric $p daira_replica_followed_events_total); secs=$(metric $p daira_replica_follow_seconds_total)
  conflicts=$(metric $p daira_log_conflicts_total)
  echo "replica on :$p — followed $events events, $(echo "scale=2; $secs * 1000000 / ($events + 0.000001)" | bc) us each to open and apply (the read from PostgreSQL not counted); $conflicts group commits decided again"
done
awk '{d=($1-$2)*1000; if (d<0) d=0; print d}' "$work/lag" | sort -g | awk '{v[NR]=$1} END {printf "replication lag (write on 1 -> applied on 2), %d probes: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", NR, v[int(NR*0.5)], v[int(NR*0.99)], v[NR]}'
echo "replicas agreeing on (log_seq, state hash) at the end: $([ "$heads" = 1 ] && echo yes || echo "no ($heads different)")"
