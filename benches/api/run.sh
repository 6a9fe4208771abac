#!/usr/bin/env bash
# The API load benchmark (issue 11), side by side in one run on this machine:
#   1. reads:  a mask with its trust and 20 followers — daira serve vs the bare peer
#              (async-graphql + axum from a Vec), same wrk, same query shape;
#   2. writes: durable `rate` mutations, then durable `castVote` ballots, on the SQLite log
#      (group commit);
#   3. subscriptions: delivery to 1,000 worldActivity subscribers, beside the floor under any
#      fan-out here (bare loopback writes to 1,000 more sockets, read by the same tokio thread),
#      measured in the same run in alternate rounds (api_subscribers --floor), 300 events; the
#      subscribers read as barely as the floor does, then (a second run) with tokio-tungstenite;
#      then to 10,000 (sockets from 127.0.0.2-9), beside the floor at 10,000 at the same pace
#      (an event, or a round, every 50 ms; loopback_floor,
#      after it: one process cannot hold both ends of 20,000 sockets under this machine's
#      20,000-file limit).
# Needs wrk (apt-get install wrk). Rate limits are off and the per-address connection and
# WebSocket caps raised for the run (they would throttle one loopback client, by design). Usage: benches/api/run.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-20}
CONNS=${2:-16}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }
# One build for both packages: built apart, their features unify differently and each build
# undoes the other's.
cargo build --release -q -p daira -p benches --bin daira --bin api_peer --bin api_subscribers --bin loopback_floor
ulimit -n 20000
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
./target/release/daira --data "$work/data" serve --demo --listen 127.0.0.1:8180 \
  --rate-per-ip 0 --rate-per-token 0 --connections-max 11000 --connections-per-ip 4096 --websockets-per-ip 2048 --websockets-per-user 11000 >"$work/serve.out" 2>"$work/serve.err" &
./target/release/api_peer 127.0.0.1:8181 >"$work/peer.out" &
for _ in $(seq 1 600); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.2; done
sleep 2  # the first epoch

gql() { curl -s -H 'content-type: application/json' ${3:+-H "authorization: Bearer $3"} -d "$(jq -nc --arg q "$1" --argjson v "${2:-{\}}" '{query:$q,variables:$v}')" http://127.0.0.1:8180/graphql; }
command -v jq >/dev/null || apt-get install -y jq >/dev/null
# The listed mask with the most followers.
handle=$(gql '{ masks(first: 100) { edges { node { handle followers(first: 1) { totalCount } } } } }' | jq -r '.data.masks.edges | max_by(.node.followers.totalCount) | .node.handle')
# Two shapes: the mask's handle, trust and its 20 followers' handles; and the same with ids,
# display names, cursors, page info and the total.
small='query($h: String!) { mask(handle: $h) { handle reputation { trust } followers(first: 20) { edges { node { handle } } } } }'
full='query($h: String!) { mask(handle: $h) { id handle displayName reputation { trust } followers(first: 20) { totalCount pageInfo { hasNextPage } edges { cursor node { id handle displayName } } } } }'
body_of() { jq -nc --arg q "$1" --arg h "$2" '{query:$q,variables:{h:$h}}'; }
followers=$(curl -s -H 'content-type: application/json' -d "$(body_of "$full" "$handle")" http://127.0.0.1:8180/graphql | jq '.data.mask.followers.edges | length')
echo "mask @$handle: $followers followers in the answer"
lua() { cat >"$work/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
${3:-}
wrk.body = [==[$2]==]
LUA
}
lua read "$(body_of "$small" "$handle")"
lua peer "$(body_of "$small" mask_7)"
lua readfull "$(body_of "$full" "$handle")"
lua peerfull "$(body_of "$full" mask_7)"

# wrk NAME URL [ROUND]: one run, its report in $work/NAME[.ROUND].wrk.
run_wrk() { wrk -t1 -c"$CONNS" -d"${SECONDS_EACH}s" --latency -s "$work/$1.lua" "$2" > "$work/$1${3:+.$3}.wrk"; }
# Medians over the rounds (or the one run): requests/s, and a latency percentile in ms.
median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f\n", v}'; }
rps() { { cat "$work"/$1.wrk "$work"/$1.[0-9].wrk 2>/dev/null || true; } | awk '/Requests\/sec/ {print $2}' | median; }
pct() { { cat "$work"/$1.wrk "$work"/$1.[0-9].wrk 2>/dev/null || true; } | awk -v p="$2" '$1==p {print $2}' | ms | median | sed 's/$/ms/'; }
errors() { { cat "$work"/$1.wrk "$work"/$1.[0-9].wrk 2>/dev/null || true; } | awk '/Non-2xx|Socket errors/ {print}' || true; }

# Reads: the peer and daira alternate, three rounds, medians reported (the machine is noisy).
for round in 1 2 3; do
  run_wrk peer http://127.0.0.1:8181/graphql $round
  run_wrk read http://127.0.0.1:8180/graphql $round
  run_wrk peerfull http://127.0.0.1:8181/graphql $round
  run_wrk readfull http://127.0.0.1:8180/graphql $round
done

# Writes: one user per wrk connection would need Lua state per thread; one token suffices
# (the per-token limit is off) — every request is a durable rating with a fresh value.
token=$(gql 'mutation { register(input: {login: "bench_writer", password: "benchmark password"}) { token } }' | jq -r .data.register.token)
gql 'mutation { createMask(input: {kind: PUBLIC, handle: "bench_writer", displayName: "bench"}) { mask { id } } }' '{}' "$token" >/dev/null
target=$(gql 'query($h: String!) { mask(handle: $h) { id } }' "{\"h\":\"$handle\"}" | jq -r .data.mask.id)
before=$(curl -s http://127.0.0.1:8180/healthz | jq .log_seq)
cat >"$work/write.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"query":"mutation(\$m: ID!, \$r: Int!) { rate(input: {mask: \$m, rating: \$r}) { seq userErrors { code } } }","variables":{"m":"$target","r":%d}}', (n % 21) - 10)
  return wrk.format(nil, nil, nil, body)
end
LUA
run_wrk write http://127.0.0.1:8180/graphql
after=$(curl -s http://127.0.0.1:8180/healthz | jq .log_seq)

# Votes (issue 20): the writer founds a world (so it may propose), opens a proposal of 64
# options for a day, and every request is a durable castVote that changes its ballot: a ballot
# cast again unchanged is refused and writes nothing, and with at most CONNS requests in flight
# two adjacent ones never choose the same option. The events committed are counted beside.
world=$(gql 'mutation { createWorld(input: {name: "bench council"}) { world { id } } }' '{}' "$token" | jq -r .data.createWorld.world.id)
closes=$(( $(date +%s) * 1000 + 86400000 ))
options=$(jq -nc '[range(64) | "option \(.)"]')
proposal=$(gql 'mutation($w: ID!, $c: String!, $o: [String!]!) { createProposal(input: {world: $w, title: "bench", options: $o, method: SINGLE, closesAt: $c}) { proposal { id } userErrors { message } } }' \
  "{\"w\":\"$world\",\"c\":\"$closes\",\"o\":$options}" "$token" | jq -r .data.createProposal.proposal.id)
cat >"$work/vote.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"query":"mutation(\$p: ID!, \$c: Int!) { castVote(input: {proposal: \$p, choices: [\$c]}) { seq userErrors { code } } }","variables":{"p":"$proposal","c":%d}}', n % 64)
  return wrk.format(nil, nil, nil, body)
end
LUA
votes_before=$(curl -s http://127.0.0.1:8180/healthz | jq .log_seq)
run_wrk vote http://127.0.0.1:8180/graphql
votes_after=$(curl -s http://127.0.0.1:8180/healthz | jq .log_seq)
commits=$(curl -s http://127.0.0.1:8180/metrics | awk '/^daira_writer_group_commits_total/ {print $2}')

# The floor under fan-out on this machine, in the same run: bare loopback writes (two threads,
# as the server has two workers) to 1,000 sockets read by the subscribers' thread, no
# WebSocket, no GraphQL, 25 ms after each event. The subscribers read their frames as barely as
# the floor's readers read (the default client); then again with tokio-tungstenite, whose
# decoding on the one client thread counts too.
subs=$(./target/release/api_subscribers 127.0.0.1:8180 1000 300 --floor 2>&1 || echo "api_subscribers failed: exit $?")
subs_tung=$(./target/release/api_subscribers 127.0.0.1:8180 1000 300 --floor --client=tungstenite 2>&1 || echo "api_subscribers (tungstenite) failed: exit $?")
subs10k=$(./target/release/api_subscribers 127.0.0.1:8180 10000 20 2>&1 || echo "api_subscribers (10,000) failed: exit $?")
floor10k=$(WRITERS=2 ./target/release/loopback_floor 10000 20 2>&1)

printf '\n%-44s %12s %10s %10s\n' "workload (wrk -t1 -c$CONNS, ${SECONDS_EACH}s; reads: median of 3)" "requests/s" "p50" "p99"
printf '%-44s %12s %10s %10s\n' "peer: mask, trust, 20 followers" "$(rps peer)" "$(pct peer 50%)" "$(pct peer 99%)"
printf '%-44s %12s %10s %10s\n' "daira: mask, trust, 20 followers" "$(rps read)" "$(pct read 50%)" "$(pct read 99%)"
printf '%-44s %12s %10s %10s\n' "peer: the same with ids, names, cursors" "$(rps peerfull)" "$(pct peerfull 50%)" "$(pct peerfull 99%)"
printf '%-44s %12s %10s %10s\n' "daira: the same with ids, names, cursors" "$(rps readfull)" "$(pct readfull 50%)" "$(pct readfull 99%)"
printf '%-44s %12s %10s %10s\n' "daira: durable rate mutation (SQLite)" "$(rps write)" "$(pct write 50%)" "$(pct write 99%)"
printf '%-44s %12s %10s %10s\n' "daira: durable castVote mutation (SQLite)" "$(rps vote)" "$(pct vote 50%)" "$(pct vote 99%)"
awk -v a="$(rps read)" -v b="$(rps peer)" -v c="$(rps readfull)" -v d="$(rps peerfull)" 'BEGIN { printf "read ratio daira/peer: %.2f (small), %.2f (full)\n", a / b, c / d }'
echo "events committed during the write run: $((after - before)); during the vote run: $((votes_after - votes_before)) (a ballot and its participation edge each); group commits so far: $commits"
for f in peer read peerfull readfull write vote; do e=$(errors $f); if [ -n "$e" ]; then echo "$f: $e"; fi; done
echo "$subs"
echo "$subs_tung"
echo "$subs10k"
echo "floor (10,000): $floor10k"
awk -v s="$(echo "$subs10k" | sed -n 's/.*commit -> receive.*p99 \([0-9.]*\).*/\1/p')" \
    -v f="$(echo "$floor10k" | sed -n 's/.*write -> read.*p99 \([0-9.]*\).*/\1/p')" \
    'BEGIN { if (s > 0 && f > 0) printf "subscription p99 daira/floor at 10,000: %.2f\n", s / f }'
