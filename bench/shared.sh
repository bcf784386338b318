#!/usr/bin/env bash
# Several instances on one PostgreSQL (issue 21), loopback only, everything stopped on exit:
#  1. lookups: one instance on SQLite, then one on PostgreSQL, same binary, same load
#     (wrk on core 1, the server on core 0), req/s and RSS: the store is off the hot path;
#  2. a 100,000-term bulk request (IP addresses) on one instance, then on two: seconds to
#     ready, and PostgreSQL's commits per second meanwhile (pg_stat_database); then a
#     DNS-bound one (10,000 addresses with reverse DNS against a loopback server that never
#     answers, each question waiting out bulk.dns_timeout_ms), where the waiting, not the CPU,
#     is what a second instance shares;
#  3. metering: one account's credits raced by 64 connections on each of two instances
#     until they run out: answers per second, and the overspend (answers beyond the
#     balance; must be 0), then the stored usage after a clean stop;
#  4. with BENCH_DUMP=FILE: a registry import into PostgreSQL and a file rebuild from it,
#     time and peak RSS.
# Needs: scripts/fetch-data.sh done, Debian packages postgresql and wrk; root or the user
# postgres (initdb runs as postgres).
# LOOKUP_ORDER="postgres sqlite postgres sqlite" alternates part 1 (A/B rounds);
# ONLY_LOOKUPS=1 stops after it.
# Usage: [BENCH_DUMP=dump.db] bench/shared.sh [seconds per lookup run, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}
PG_PORT=${PG_PORT:-15433}
PORT_A=${PORT_A:-18091}
PORT_B=${PORT_B:-18092}
work=$(mktemp -d)
chmod 755 "$work"
pids=()
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  [ -d "$work/pg" ] && as_pg "$PG_BIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${BENCH_BIN:-}" ]; then cargo build --release -q -p ipintel; fi
BIN=${BENCH_BIN:-"${CARGO_TARGET_DIR:-target}/release/ipintel"}
DB_DIR=${DB_DIR:-$(scripts/data-dir.sh)}

mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_pg "$PG_BIN/initdb" -A trust -U ipintel -D "$work/pg" >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$work/pg -c max_connections=200" start >/dev/null
psql_() { "$PG_BIN/psql" -qtA -h 127.0.0.1 -p "$PG_PORT" -U ipintel "$@"; }
psql_ -d postgres -c "CREATE DATABASE bench" >/dev/null
URL="postgres://ipintel@127.0.0.1:$PG_PORT/bench"

# data_dir NAME: a data directory with the fetched databases.
data_dir() { mkdir -p "$work/$1"; ln -sf "$DB_DIR/GeoLite2-City.mmdb" "$DB_DIR/GeoLite2-ASN.mmdb" "$work/$1/"; echo "$work/$1"; }
# serve NAME PORT CORE [--store-url URL]: start an instance and wait until it is ready.
serve() {
  local name=$1 port=$2 core=$3; shift 3
  IPINTEL_LOG=warn taskset -c "$core" "$BIN" --data-dir "$(data_dir "$name")" "$@" serve \
    --listen "127.0.0.1:$port" --whois-listen off >"$work/$name.log" 2>&1 &
  pids+=($!)
  last_pid=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "$name did not become ready" >&2; cat "$work/$name.log" >&2; return 1
}
stop() { kill "$1"; while kill -0 "$1" 2>/dev/null; do sleep 0.1; done; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
commits() { psql_ -d bench -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'bench'"; }

python3 - "$work/ips.txt" <<'PY'
import ipaddress, random, sys
random.seed(42)
out = []
while len(out) < 100000:
    ip = ipaddress.IPv4Address(random.getrandbits(32))
    if ip.is_global and not ip.is_multicast:
        out.append(str(ip))
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
head -10000 "$work/ips.txt" > "$work/ips10k.txt"

wrk_run() { # label port auth seconds
  IPLIST="$work/ips10k.txt" PREFIX="/geoip/v2.1/city/" AUTH="$3" timeout $(($4 + 30)) \
    taskset -c 1 wrk -t1 -c64 -d"$4s" --latency -s bench/lookups.lua "http://127.0.0.1:$2" > "$work/$1.txt"
}

echo "== 1. lookups, one instance: SQLite, then PostgreSQL (${SECS} s each, 64 connections)"
for store in ${LOOKUP_ORDER:-sqlite postgres}; do
  if [ "$store" = sqlite ]; then
    creds=$("$BIN" --data-dir "$(data_dir lookup-sqlite)" --create keys create --plan pro --json)
    serve lookup-sqlite "$PORT_A" 0
  else
    creds=$("$BIN" --data-dir "$work/cli" --store-url "$URL" --create keys create --plan pro --json)
    serve lookup-postgres "$PORT_A" 0 --store-url "$URL"
  fi
  account=$(echo "$creds" | json_field '["account_id"]'); key=$(echo "$creds" | json_field '["key"]')
  auth="Basic $(printf '%s:%s' "$account" "$key" | base64 -w0)"
  wrk_run warm "$PORT_A" "$auth" 5 >/dev/null
  before=$(commits)
  wrk_run "lookups-$store" "$PORT_A" "$auth" "$SECS"
  after=$(commits)
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/lookups-$store.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/lookups-$store.txt")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$work/lookups-$store.txt"); non2xx=${non2xx:-0}
  echo "$store: ${rps} req/s, p99 ${p99}, non-2xx ${non2xx}, RSS $(ps -o rss= -p "$last_pid") KiB, PostgreSQL commits during the run: $((after - before))"
  stop "$last_pid"
done

[ -n "${ONLY_LOOKUPS:-}" ] && exit 0
echo "== 2. a 100,000-term bulk request: one instance, then two"
python3 - "$work/ips.txt" "$work/bulk-body.json" <<'PY'
import json, sys
terms = open(sys.argv[1]).read().split()
json.dump({"terms": terms, "format": "json"}, open(sys.argv[2], "w"))
PY
creds=$("$BIN" --data-dir "$work/cli" --store-url "$URL" --create keys create --plan pro --json)
key=$(echo "$creds" | json_field '["key"]')

# bulk_run LABEL BODY N: submit BODY to instance A of N and wait until it is ready.
bulk_run() {
  local label=$1 body=$2 n=$3
  serve "$label-a$n" "$PORT_A" 0 --store-url "$URL"; a=$last_pid
  b=""
  if [ "$n" = 2 ]; then serve "$label-b$n" "$PORT_B" 1 --store-url "$URL"; b=$last_pid; fi
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['apiKey']=sys.argv[2]; json.dump(d, open(sys.argv[1]+'.k','w'))" "$body" "$key"
  before=$(commits)
  start=$(date +%s.%N)
  id=$(curl -sf -H 'Content-Type: application/json' --data-binary @"$body.k" \
    "http://127.0.0.1:$PORT_A/api/bgservice/request" | json_field '["response"]["id"]')
  while :; do
    ready=$(curl -sf -H 'Content-Type: application/json' -d "{\"apiKey\":\"$key\",\"ids\":[$id]}" \
      "http://127.0.0.1:$PORT_A/api/bgservice/request/status" | json_field '["response"][0]["ready"]')
    [ "$ready" = 1 ] && break
    sleep 0.1
  done
  end=$(date +%s.%N)
  after=$(commits)
  terms=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['terms']))" "$body")
  secs=$(python3 -c "print(f'{$end - $start:.2f}')")
  rss="A $(ps -o rss= -p "$a") KiB"; [ -n "$b" ] && rss="$rss, B $(ps -o rss= -p "$b") KiB"
  echo "$label, $n instance(s): ready in ${secs} s ($(python3 -c "print(int($terms / ($end - $start)))") terms/s), $((after - before)) commits ($(python3 -c "print(int(($after - $before) / ($end - $start)))")/s), RSS $rss"
  stop "$a"
  if [ -n "$b" ]; then stop "$b"; fi
}
for n in 1 2; do bulk_run ip "$work/bulk-body.json" "$n"; done
# A DNS server that takes every question and never answers.
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(3600)' "$work/dns.port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/dns.port" ] && break; sleep 0.1; done
python3 - "$work/ips.txt" "$work/dns-body.json" <<'PY'
import json, sys
terms = open(sys.argv[1]).read().split()[:10000]
json.dump({"terms": terms, "format": "json", "reverseIp": True}, open(sys.argv[2], "w"))
PY
export IPINTEL_TASKS__DNS_SERVER="127.0.0.1:$(cat "$work/dns.port")" IPINTEL_BULK__DNS_TIMEOUT_MS=200 IPINTEL_BULK__RESOLVE_CONCURRENCY=64
for n in 1 2; do bulk_run dns "$work/dns-body.json" "$n"; done
unset IPINTEL_TASKS__DNS_SERVER IPINTEL_BULK__DNS_TIMEOUT_MS IPINTEL_BULK__RESOLVE_CONCURRENCY

echo "== 3. metering: one account raced by 64 connections on each of two instances"
# race CREDITS SECONDS: sets ok (answers), account, a/b pids stopped cleanly afterwards.
race() {
  creds=$("$BIN" --data-dir "$work/cli" --store-url "$URL" keys create --plan pro --credits "$1" --json)
  account=$(echo "$creds" | json_field '["account_id"]'); key=$(echo "$creds" | json_field '["key"]')
  auth="Basic $(printf '%s:%s' "$account" "$key" | base64 -w0)"
  serve meter-a "$PORT_A" 0 --store-url "$URL"; a=$last_pid
  serve meter-b "$PORT_B" 0 --store-url "$URL"; b=$last_pid
  before=$(commits)
  IPLIST="$work/ips10k.txt" PREFIX="/geoip/v2.1/city/" AUTH="$auth" timeout 60 \
    taskset -c 1 wrk -t1 -c64 -d"$2s" -s bench/lookups.lua "http://127.0.0.1:$PORT_A" > "$work/meter-a.txt" &
  w1=$!
  IPLIST="$work/ips10k.txt" PREFIX="/geoip/v2.1/city/" AUTH="$auth" timeout 60 \
    taskset -c 1 wrk -t1 -c64 -d"$2s" -s bench/lookups.lua "http://127.0.0.1:$PORT_B" > "$work/meter-b.txt"
  wait "$w1"
  after=$(commits)
  ok=0
  for f in meter-a meter-b; do
    total=$(awk '/requests in/ {print $1}' "$work/$f.txt")
    non2xx=$(awk '/Non-2xx/ {print $5}' "$work/$f.txt"); non2xx=${non2xx:-0}
    ok=$((ok + total - non2xx))
  done
  rss="A $(ps -o rss= -p "$a") KiB, B $(ps -o rss= -p "$b") KiB"
  stop "$a"; stop "$b"
}
race 100000000 "$SECS"
echo "throughput (balance never reached): $((ok / SECS)) answers/s for one account on two instances, $(( (after - before) / SECS )) commits/s, RSS $rss"
race 50000 "$SECS"
used=$(psql_ -d bench -c "SELECT credits_used FROM accounts WHERE id = $account")
echo "exhaustion: ${ok} answers for a balance of 50000, overspend $((ok > 50000 ? ok - 50000 : 0)); stored usage after a clean stop: ${used}"

if [ -n "${BENCH_DUMP:-}" ]; then
  echo "== 4. the registry on PostgreSQL: import $BENCH_DUMP, then rebuild the file from the store"
  psql_ -d postgres -c "CREATE DATABASE registry" >/dev/null
  REG_URL="postgres://ipintel@127.0.0.1:$PG_PORT/registry"
  for step in import rebuild; do
    if [ "$step" = import ]; then
      cmd=(registry import --source TEST "$BENCH_DUMP")
    else
      cmd=(registry rebuild)
    fi
    /usr/bin/time -f "%e s, peak %M KiB" -o "$work/time.txt" \
      "$BIN" --data-dir "$(data_dir registry)" --store-url "$REG_URL" "${cmd[@]}" >/dev/null 2>"$work/$step.err" \
      || { cat "$work/$step.err" >&2; exit 1; }
    echo "$step: $(cat "$work/time.txt")"
  done
  echo "store size: $(psql_ -d registry -c "SELECT pg_size_pretty(pg_database_size('registry'))")"
fi
