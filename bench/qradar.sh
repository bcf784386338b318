#!/usr/bin/env bash
# QRadar geolocations benchmark: GET /api/services/geolocations with
# filter=ip_address IN (100 random public IPv4), SEC auth, server on core 0, wrk -t1 -c4 on
# core 1. Loopback only; bounded runs. Needs scripts/fetch-data.sh and Debian's wrk.
# Usage: bench/qradar.sh [seconds, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
PORT=${PORT:-18083}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release -q -p ipintel
BIN=target/release/ipintel
mkdir -p "$work/data"
ln -s "$PWD/data/GeoLite2-City.mmdb" "$PWD/data/GeoLite2-ASN.mmdb" "$work/data/"
key=$("$BIN" --data-dir "$work/data" keys create --plan pro --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
query=$(python3 - <<'PY'
import ipaddress, random, urllib.parse
random.seed(11)
out = []
while len(out) < 100:
    ip = ipaddress.IPv4Address(random.getrandbits(32))
    if ip.is_global and not ip.is_multicast:
        out.append('"%s"' % ip)
print("filter=" + urllib.parse.quote("ip_address IN (" + ", ".join(out) + ")"))
PY
)
url="http://127.0.0.1:$PORT/api/services/geolocations?$query"
IPINTEL_LOG=warn taskset -c 0 "$BIN" --data-dir "$work/data" serve --listen "127.0.0.1:$PORT" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
cat > "$work/sec.lua" <<LUA
wrk.headers["SEC"] = "$key"
LUA
bytes=$(curl -s -H "SEC: $key" "$url" | wc -c)
timeout $((SECS + 20)) taskset -c 1 wrk -t1 -c4 -d5s -s "$work/sec.lua" "$url" >/dev/null
timeout $((SECS + 20)) taskset -c 1 wrk -t1 -c4 -d"${SECS}s" --latency -s "$work/sec.lua" "$url" > "$work/wrk.txt"
echo "QRadar IN of 100 (${bytes} B): $(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt") requests/s, p50 $(awk '$1=="50%" {print $2}' "$work/wrk.txt"), p99 $(awk '$1=="99%" {print $2}' "$work/wrk.txt"), non-2xx $(awk '/Non-2xx/ {print $5}' "$work/wrk.txt")"
