#!/usr/bin/env bash
# kill -9 during the economy's GraphQL load (issue 21), ROUNDS times: `daira serve` takes
# payments and purchases from 32 connections (benches/src/bin/ledger_load.rs, mode chaos) and
# is killed with SIGKILL at a random moment; then `daira audit verify` must pass (the chain
# and the ledger's invariants) with the replayed state hash equal to `daira stats`'s, and, on a
# restarted server, every transfer and purchase acknowledged in any round so far must be there,
# each once, with Σ balances = Σ issued and nobody below zero.
# Usage: benches/economy/kill.sh [ROUNDS] [PAYMENTS_PER_ROUND]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-10}
N=${2:-20000}
MASKS=200
cargo build --release -q --bin daira -p daira
cargo build --release -q -p benches --bin ledger_load
D=./target/release/daira
L=./target/release/ledger_load
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
serve() {
  : > "$work/serve.out"
  $D --data "$work/data" serve --listen 127.0.0.1:8191 --rate-per-ip 0 --rate-per-token 0 \
    --connections-per-ip 4096 >"$work/serve.out" 2>"$work/serve.err" &
  server=$!
  for _ in $(seq 1 600); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
}
serve
$L setup 127.0.0.1:8191 $MASKS > "$work/state.json"
kill -TERM $server; wait $server || true
seq 1 $MASKS | awk '{printf "load_%d,1000.00\n", $1}' > "$work/grants.csv"
$D --data "$work/data" ledger issue --file "$work/grants.csv" --reason "opening balances" 2>/dev/null
for round in $(seq 1 "$ROUNDS"); do
  serve
  $L chaos 127.0.0.1:8191 "$work/state.json" "$N" 32 "$round" "$work/acks.$round.json" > "$work/chaos.$round.out" &
  loader=$!
  sleep "$(awk -v r="$round" 'BEGIN {srand(r); printf "%.2f", 0.3 + rand() * 1.5}')"
  kill -9 $server; wait $server 2>/dev/null || true
  wait $loader
  acked=$(jq '.transfers | length' "$work/acks.$round.json"); bought=$(jq '.trades | length' "$work/acks.$round.json")
  audit=$($D --data "$work/data" audit verify 2>/dev/null) || { echo "round $round: audit failed"; echo "$audit"; exit 1; }
  echo "$audit" | grep -q "ledger balanced" || { echo "round $round: $audit"; exit 1; }
  replayed=$(echo "$audit" | awk '/^state hash/ {print $3}')
  stats=$($D --data "$work/data" stats --json 2>/dev/null | jq -r .state_hash)
  [ "$replayed" = "$stats" ] || { echo "round $round: replay $replayed != $stats"; exit 1; }
  serve
  check=$($L check 127.0.0.1:8191 "$work/state.json" "$work"/acks.*.json)
  kill -TERM $server; wait $server || true
  echo "round $round: killed with $acked transfers and $bought purchases acknowledged; audit ok, replay = stats ($replayed); $check"
done
echo "kill -9 $ROUNDS times during the GraphQL load: nothing acknowledged lost, the ledger balanced after each"
