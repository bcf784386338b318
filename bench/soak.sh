#!/usr/bin/env bash
# Memory soak: uniformly random public IPv4 addresses through every lookup dialect (MaxMind
# country/city/insights, DB-IP, QRadar, /v1) for SECS seconds, GeoLite2 City + ASN, default
# settings; RSS of the server sampled every 10 s. Prints RSS at start, during, at the end of
# the load and 10 s after it, and the growth over the last half of the run. Loopback only.
# Needs: scripts/fetch-data.sh done, Debian package wrk.
# Usage: bench/soak.sh [seconds, default 600]   (SOAK_BIN=path runs another ipintel binary)
source "$(dirname "$0")/lib.sh"
SECS=${1:-600}
PORT=${PORT:-18090}
BIN=${SOAK_BIN:-$BIN}
random_ipv4 100000 11 > "$work/ips.txt"
auth="Basic $(printf '%s:%s' "$account" "$key" | base64 -w0)"
start_server "$PORT"
rss() { awk '/^VmRSS:/ {print int($2/1024)}' "/proc/$server_pid/status"; }
echo "soak: $BIN, $SECS s, start RSS $(rss) MiB"
IPLIST="$work/ips.txt" KEY="$key" AUTH="$auth" timeout $((SECS + 60)) \
  taskset -c 1 wrk -t1 -c16 -d"${SECS}s" -s bench/soak.lua "http://127.0.0.1:$PORT" > "$work/wrk.txt" &
wrk_pid=$!
pids+=("$wrk_pid")
samples=()
t=0
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep 10
  t=$((t + 10))
  r=$(rss)
  samples+=("$r")
  echo "t=${t}s RSS ${r} MiB"
done
wait "$wrk_pid" || true
end=$(rss)
sleep 10
after=$(rss)
n=${#samples[@]}
half=${samples[$((n / 2))]}
max=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $5}' "$work/wrk.txt")
echo "soak result: ${rps} req/s (non-2xx ${non2xx:-0}); RSS max ${max} MiB, at half time ${half} MiB, at the end ${end} MiB (last half grew $((end - half)) MiB), 10 s after ${after} MiB"
curl -s "http://127.0.0.1:$PORT/metrics" | grep '^ipintel_geo_cache' || true
