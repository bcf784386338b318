#!/usr/bin/env bash
# QRadar geolocations benchmark: GET /api/services/geolocations with
# filter=ip_address IN (100 random public IPv4), SEC auth, server on core 0, wrk -t1 -c4 on
# core 1. Loopback only; bounded runs. Needs scripts/fetch-data.sh and Debian's wrk.
# Usage: bench/qradar.sh [seconds, default 30]
SECS=${1:-30}
PORT=${PORT:-18083}
source "$(dirname "$0")/lib.sh"
query=$(random_ipv4 100 11 | python3 -c 'import sys, urllib.parse; ips = [f"\"{l.strip()}\"" for l in sys.stdin if l.strip()]; print("filter=" + urllib.parse.quote("ip_address IN (" + ", ".join(ips) + ")"))')
start_server "$PORT"
url="http://127.0.0.1:$PORT/api/services/geolocations?$query"
printf 'wrk.headers["SEC"] = "%s"\n' "$key" > "$work/sec.lua"
bytes=$(curl -s -H "SEC: $key" "$url" | wc -c)
timeout $((SECS + 20)) taskset -c 1 wrk -t1 -c4 -d5s -s "$work/sec.lua" "$url" >/dev/null
timeout $((SECS + 20)) taskset -c 1 wrk -t1 -c4 -d"${SECS}s" --latency -s "$work/sec.lua" "$url" > "$work/wrk.txt"
echo "QRadar IN of 100 (${bytes} B): $(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt") requests/s, p50 $(awk '$1=="50%" {print $2}' "$work/wrk.txt"), p99 $(awk '$1=="99%" {print $2}' "$work/wrk.txt"), non-2xx $(awk '/Non-2xx/ {print $5}' "$work/wrk.txt")"
