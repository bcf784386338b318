#!/usr/bin/env bash
# DB-IP batch benchmark: GET /v2/{key}/{256 addresses} on a pro key (all fields, English),
# server pinned to core 0, wrk -t1 -c8 pinned to core 1. Loopback only; bounded runs.
# Needs scripts/fetch-data.sh done and Debian's wrk. Usage: bench/dbip.sh [seconds, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
PORT=${PORT:-18082}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release -q -p ipintel
BIN=target/release/ipintel
mkdir -p "$work/data"
ln -s "$PWD/data/GeoLite2-City.mmdb" "$PWD/data/GeoLite2-ASN.mmdb" "$work/data/"
key=$("$BIN" --data-dir "$work/data" keys create --plan pro --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
batch=$(python3 - <<'PY'
import ipaddress, random
random.seed(7)
out = []
while len(out) < 256:
    ip = ipaddress.IPv4Address(random.getrandbits(32))
    if ip.is_global and not ip.is_multicast:
        out.append(str(ip))
print(",".join(out))
PY
)
IPINTEL_LOG=warn taskset -c 0 "$BIN" --data-dir "$work/data" serve --listen "127.0.0.1:$PORT" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
bytes=$(curl -s "http://127.0.0.1:$PORT/v2/$key/$batch" | wc -c)
timeout $((SECS + 20)) taskset -c 1 wrk -t1 -c8 -d5s "http://127.0.0.1:$PORT/v2/$key/$batch" >/dev/null
timeout $((SECS + 20)) taskset -c 1 wrk -t1 -c8 -d"${SECS}s" --latency "http://127.0.0.1:$PORT/v2/$key/$batch" > "$work/wrk.txt"
echo "DB-IP batch of 256 (pro, ${bytes} B): $(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt") batches/s, p50 $(awk '$1=="50%" {print $2}' "$work/wrk.txt"), p99 $(awk '$1=="99%" {print $2}' "$work/wrk.txt"), non-2xx $(awk '/Non-2xx/ {print $5}' "$work/wrk.txt")"
