#!/usr/bin/env bash
# The economy's benchmark (issue 21), side by side in one run on this machine:
#   1. the peer: a PostgreSQL double-entry ledger as most teams write one (accounts and
#      transfers tables, SELECT … FOR UPDATE on both accounts, one transaction per transfer,
#      32 client connections) on the machine's PostgreSQL — benches/src/bin/ledger_peer.rs;
#   2. DAIRA over `daira exec`: the same payments (random amounts, some more than anyone
#      holds, some retried with the same key) as JSON lines into one `daira exec`, durable on
#      the SQLite log — timed as the whole command (open and replay included) and as the
#      commands alone (what exec says on stderr);
#   3. DAIRA over GraphQL: 200 masks, N payments and purchases from 32 keep-alive connections,
#      then the conservation check (Σ balances = Σ issued, none below zero, every acknowledged
#      transfer present once, no refused one) — benches/src/bin/ledger_load.rs.
# The peer and exec alternate over three rounds; medians are reported with their ratio.
# Usage: benches/economy/run.sh [PAYMENTS] [POSTGRES_URL]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-20000}
PG=${2:-${DAIRA_TEST_POSTGRES_URL:-postgres://root@127.0.0.1:5432/test}}
MASKS=200
cargo build --release -q --bin daira -p daira
cargo build --release -q -p benches --bin ledger_peer --bin ledger_load
D=./target/release/daira
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The accounts for exec: MASKS users with a mask each, 1,000 EGP each.
base="$work/base"
for i in $(seq 1 $MASKS); do echo '{"register_user": {}}'; done | $D --data "$base" exec 2>/dev/null | sed 's/.*id=//' > "$work/users"
awk '{printf "{\"create_mask\": {\"user\": \"%s\", \"kind\": \"public\", \"handle\": \"payer_%d\"}}\n", $1, NR}' "$work/users" \
  | $D --data "$base" exec 2>/dev/null | sed 's/.*id=//' > "$work/masks"
paste -d' ' "$work/users" "$work/masks" > "$work/ids"
seq 1 $MASKS | awk '{printf "payer_%d,1000.00\n", $1}' > "$work/grants.csv"
$D --data "$base" ledger issue --file "$work/grants.csv" --reason "benchmark opening balances" >/dev/null 2>&1
./target/release/ledger_load exec-lines "$work/ids" "$N" > "$work/payments.jsonl"

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
for round in 1 2 3; do
  ./target/release/ledger_peer "$PG" "$N" 32 $MASKS | tee -a "$work/peer.out"
  rm -rf "$work/run" && cp -r "$base" "$work/run"
  start=$(date +%s.%N)
  $D --data "$work/run" exec < "$work/payments.jsonl" > "$work/acks" 2> "$work/exec.err"
  end=$(date +%s.%N)
  whole=$(echo "$N / ($end - $start)" | bc -l)
  alone=$(grep -o '([0-9]*/s)' "$work/exec.err" | tr -d '(/s)')
  ok=$(grep -c '^ok ' "$work/acks" || true); no=$(grep -c '^rejected ' "$work/acks" || true)
  printf "daira exec: %d payments (%d acknowledged, %d refused) in %.3f s whole command: %.0f/s (commands alone %s/s)\n" \
    "$N" "$ok" "$no" "$(echo "$end - $start" | bc -l)" "$whole" "$alone" | tee -a "$work/exec.out"
  echo "$whole" >> "$work/exec.whole"; echo "$alone" >> "$work/exec.alone"
  grep -o '[0-9]*/s' "$work/peer.out" | tail -1 | tr -d '/s' >> "$work/peer.rate"
done
$D --data "$work/run" audit verify 2>/dev/null | tail -2
peer=$(median < "$work/peer.rate"); whole=$(median < "$work/exec.whole"); alone=$(median < "$work/exec.alone")
printf "\nmedians of 3: peer %.0f/s; daira exec whole command %.0f/s (%.1fx the peer), commands alone %.0f/s (%.1fx)\n" \
  "$peer" "$whole" "$(echo "$whole / $peer" | bc -l)" "$alone" "$(echo "$alone / $peer" | bc -l)"

# GraphQL: a server on a fresh data directory; 200 users register, 20 list a work; then the
# operator's issuance (the server stopped: issuance is on the data directory), and the load.
serve() {
  $D --data "$work/gql" serve --listen 127.0.0.1:8190 --rate-per-ip 0 --rate-per-token 0 \
    --connections-per-ip 4096 >"$work/serve.out" 2>"$work/serve.err" &
  for _ in $(seq 1 600); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.2; done
}
serve
./target/release/ledger_load setup 127.0.0.1:8190 $MASKS > "$work/state.json"
kill -TERM %1; wait %1 || true
seq 1 $MASKS | awk '{printf "load_%d,1000.00\n", $1}' > "$work/grants2.csv"
$D --data "$work/gql" ledger issue --file "$work/grants2.csv" --reason "benchmark opening balances" 2>/dev/null
serve
sleep 1
./target/release/ledger_load run 127.0.0.1:8190 "$work/state.json" "$N" 32
kill -TERM %2 2>/dev/null || kill -TERM $(jobs -p); wait || true
$D --data "$work/gql" audit verify 2>/dev/null | tail -3
