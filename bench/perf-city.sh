#!/usr/bin/env bash
# Where a fixed-address City lookup spends its CPU: `ipintel serve` pinned to core 0, wrk
# (-c64, one address) on core 1, `perf record -g` on the server for 8 s after a 3 s warm-up;
# prints req/s under perf and the top symbols. Loopback only.
# Needs: scripts/fetch-data.sh done, Debian packages wrk and linux-perf.
# Usage: bench/perf-city.sh [BINARY] [PORT]   (default: this tree's release build, 18500)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
PORT=${2:-18500}
if [ -z "$BIN" ]; then cargo build --release -q -p ipintel; BIN="${CARGO_TARGET_DIR:-target}/release/ipintel"; fi
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/data"
DB_DIR=${DB_DIR:-$(scripts/data-dir.sh)}
ln -s "$DB_DIR/GeoLite2-City.mmdb" "$DB_DIR/GeoLite2-ASN.mmdb" "$work/data/"
creds=$("$BIN" --data-dir "$work/data" --create keys create --plan pro --json)
account=$(echo "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["account_id"])')
key=$(echo "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
auth="Basic $(printf '%s:%s' "$account" "$key" | base64 -w0)"
IPINTEL_LOG=warn taskset -c 0 "$BIN" --data-dir "$work/data" serve --listen "127.0.0.1:$PORT" \
  --whois-listen off >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
echo 81.2.69.160 > "$work/one.txt"
load() { IPLIST="$work/one.txt" PREFIX="/geoip/v2.1/city/" AUTH="$auth" timeout 30 \
  taskset -c 1 wrk -t1 -c64 -d"$1" -s bench/lookups.lua "http://127.0.0.1:$PORT"; }
load 3s >/dev/null
perf record -F 999 -g -p "$server_pid" -o "$work/perf.data" -- sleep 8 >/dev/null 2>&1 &
perf_pid=$!
load 8s | grep Requests
wait "$perf_pid" || true
perf report -i "$work/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
  | grep -E '^ +[0-9]' | awk '{printf "%s", $1; for (i = 3; i <= NF && $i != "-"; i++) printf " %s", $i; print ""}' \
  | cut -c1-120 | head -30
