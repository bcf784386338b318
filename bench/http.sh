#!/usr/bin/env bash
# HTTP benchmark: ipintel `/geoip/v2.1/city/{ip}` with auth, random public IPv4 addresses,
# server pinned to core 0, wrk pinned to core 1; then nginx returning a fixed body of the
# same size in the same run (the machine's HTTP ceiling). Loopback only; every run bounded.
# Needs: scripts/fetch-data.sh done, Debian packages wrk and nginx (or nginx-light).
# Usage: [N=addresses] bench/http.sh [seconds per run, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
PORT=${PORT:-18080}
NGINX_PORT=${NGINX_PORT:-18081}
work=$(mktemp -d)
chmod 755 "$work"   # nginx workers must read the body file
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# BENCH_BIN=path measures an already built binary (an A/B against another commit).
if [ -z "${BENCH_BIN:-}" ]; then cargo build --release -q -p ipintel; fi
BIN=${BENCH_BIN:-"${CARGO_TARGET_DIR:-target}/release/ipintel"}

# N random public IPv4 addresses (default 100,000, as issue 23 measures), fixed seed.
python3 - "$work/ips.txt" "${N:-100000}" <<'PY'
import ipaddress, random, sys
random.seed(42)
out = []
while len(out) < int(sys.argv[2]):
    ip = ipaddress.IPv4Address(random.getrandbits(32))
    # is_global admits multicast, which MaxMind (and ipintel) call reserved.
    if ip.is_global and not ip.is_multicast:
        out.append(str(ip))
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY

mkdir -p "$work/data"
DB_DIR=${DB_DIR:-$(scripts/data-dir.sh)}
ln -s "$DB_DIR/GeoLite2-City.mmdb" "$DB_DIR/GeoLite2-ASN.mmdb" "$work/data/"
creds=$("$BIN" --data-dir "$work/data" --create keys create --plan pro --json)
account=$(echo "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["account_id"])')
key=$(echo "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
auth="Basic $(printf '%s:%s' "$account" "$key" | base64 -w0)"

IPINTEL_LOG=warn taskset -c 0 "$BIN" --data-dir "$work/data" serve --listen "127.0.0.1:$PORT" >"$work/server.log" 2>&1 &
pids+=($!)
server_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
sample=$(curl -s -H "Authorization: $auth" "http://127.0.0.1:$PORT/geoip/v2.1/city/$(head -1 "$work/ips.txt")")
body_bytes=${#sample}

run_wrk() { # label url-prefix [auth]
  local label=$1 prefix=$2
  IPLIST="$work/ips.txt" PREFIX="$prefix" AUTH="${3:-}" timeout $((SECS + 30)) \
    taskset -c 1 wrk -t1 -c64 -d5s -s bench/lookups.lua "http://127.0.0.1:$4" >/dev/null  # warm-up
  IPLIST="$work/ips.txt" PREFIX="$prefix" AUTH="${3:-}" timeout $((SECS + 30)) \
    taskset -c 1 wrk -t1 -c64 -d"${SECS}s" --latency -s bench/lookups.lua "http://127.0.0.1:$4" > "$work/$label.txt"
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$label.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$label.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$label.txt")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$work/$label.txt"); non2xx=${non2xx:-0}
  echo "$label: ${rps} req/s, p50 ${p50}, p99 ${p99}, non-2xx ${non2xx}"
  echo "$rps" > "$work/$label.rps"
}

run_wrk ipintel-random "/geoip/v2.1/city/" "$auth" "$PORT"
echo "ipintel RSS: $(ps -o rss= -p "$server_pid") KiB, body ${body_bytes} B"
head -1 "$work/ips.txt" > "$work/one.txt"
cp "$work/ips.txt" "$work/ips.all"; cp "$work/one.txt" "$work/ips.txt"
run_wrk ipintel-fixed "/geoip/v2.1/city/" "$auth" "$PORT"
cp "$work/ips.all" "$work/ips.txt"
kill "$server_pid"

# nginx: the same number of bytes from memory.
printf '%s' "$sample" > "$work/body.json"
cat > "$work/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $work;
    location / { default_type application/json; try_files /body.json =404; }
  }
}
NGX
taskset -c 0 nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
sleep 0.5
run_wrk nginx-static "/" "" "$NGINX_PORT"
python3 -c "import sys; a,b=float(open(sys.argv[1]).read()),float(open(sys.argv[2]).read()); print(f'ipintel / nginx static (same bytes): {a/b:.2f}')" \
  "$work/ipintel-random.rps" "$work/nginx-static.rps"
