#!/usr/bin/env bash
# Where a fixed-address City lookup spends its CPU: `ipintel serve` pinned to core 0, wrk
# (-c64, one address) on core 1, `perf record -g` on the server for 8 s after a 3 s warm-up;
# prints req/s under perf and the top symbols. Loopback only.
# Needs: scripts/fetch-data.sh done, Debian packages wrk and linux-perf.
# Usage: bench/perf-city.sh [PORT]   (BENCH_BIN=path profiles another ipintel binary)
source "$(dirname "$0")/lib.sh"
PORT=${1:-18500}
start_server "$PORT"
auth="Basic $(printf '%s:%s' "$account" "$key" | base64 -w0)"
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
