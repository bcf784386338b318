#!/usr/bin/env bash
# DB-IP batch benchmark: GET /v2/{key}/{256 addresses} on a pro key (all fields, English),
# server pinned to core 0, wrk -t1 -c8 pinned to core 1. Loopback only; bounded runs.
# Needs scripts/fetch-data.sh done and Debian's wrk. Usage: bench/dbip.sh [seconds, default 30]
SECS=${1:-30}
PORT=${PORT:-18082}
source "$(dirname "$0")/lib.sh"
batch=$(random_ipv4 256 7 | paste -sd, -)
start_server "$PORT"
url="http://127.0.0.1:$PORT/v2/$key/$batch"
bytes=$(curl -s "$url" | wc -c)
timeout $((SECS + 20)) taskset -c 1 wrk -t1 -c8 -d5s "$url" >/dev/null
timeout $((SECS + 20)) taskset -c 1 wrk -t1 -c8 -d"${SECS}s" --latency "$url" > "$work/wrk.txt"
echo "DB-IP batch of 256 (pro, ${bytes} B): $(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt") batches/s, p50 $(awk '$1=="50%" {print $2}' "$work/wrk.txt"), p99 $(awk '$1=="99%" {print $2}' "$work/wrk.txt"), non-2xx $(awk '/Non-2xx/ {print $5}' "$work/wrk.txt")"
