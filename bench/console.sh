#!/usr/bin/env bash
# Console benchmark (issue 22): the address page `/ui/ip/{address}` for random public IPv4
# addresses (GeoLite2 City + ASN), server pinned to core 0, wrk on core 1.
#  1. paced: 20 connections, each pausing ~20 ms before its next request (about 1,000
#     requests/s offered); the achieved rate, wrk's p50/p99, and the server's own time
#     from its latency histogram (`ipintel_http_request_duration_seconds{dialect="console"}`:
#     the share of requests answered within 1 ms and within 2 ms, and the p99 bucket);
#  2. flat out: 16 connections, no pause: the page's ceiling on one core.
# Both for the operator's session (no metering) and a key holder's (a metered City lookup
# per page), with RSS after each. Loopback only; every run bounded.
# Needs: scripts/fetch-data.sh done, Debian package wrk; for the browser's timings, chromium,
# chromium-driver and selenium (tests/python/requirements.txt).
# Usage: bench/console.sh [seconds per run, default 30]
SECS=${1:-30}
PORT=${PORT:-18090}
TOKEN=bench-console-token
export IPINTEL_ADMIN__TOKEN=$TOKEN
source "$(dirname "$0")/lib.sh"
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 1; }

random_ipv4 10000 42 > "$work/ips.txt"
start_server "$PORT"
base="http://127.0.0.1:$PORT"

# sign_in SECRET: the session cookie (name=value) the console sets for it.
sign_in() {
  curl -s -o /dev/null -D - -X POST -H "Origin: $base" --data-urlencode "secret=$1" "$base/ui/login" |
    awk -F'[ ;]' 'tolower($1)=="set-cookie:" {print $2}'
}
operator=$(sign_in "$TOKEN")
holder=$(sign_in "$key")
[ -n "$operator" ] && [ -n "$holder" ] || { echo "sign-in failed" >&2; exit 1; }
code=$(curl -s -o "$work/page.html" -w '%{http_code}' -H "Cookie: $holder" "$base/ui/ip/81.2.69.160")
[ "$code" = 200 ] || { echo "address page answered $code" >&2; exit 1; }
echo "address page: $(wc -c < "$work/page.html") bytes of HTML"

# The console's latency histogram, as "le count" lines.
histogram() {
  curl -s -H "Authorization: Bearer $TOKEN" "$base/metrics" |
    awk -F'[{}"]' '/^ipintel_http_request_duration_seconds_bucket/ && /dialect="console"/ {
      for (i = 1; i <= NF; i++) if ($i ~ /le=$/) le = $(i + 1); split($0, p, " "); print le, p[2] }'
}
# server_share BEFORE AFTER: within 1 ms, within 2 ms, and the bucket holding the p99.
server_share() {
  python3 - "$1" "$2" <<'PY'
import sys
def read(path):
    return {le: float(n) for le, n in (l.split() for l in open(path) if l.strip())}
a, b = read(sys.argv[1]), read(sys.argv[2])
d = {le: b[le] - a.get(le, 0) for le in b}
total = d["+Inf"]
share = lambda le: 100 * d[le] / total if total else 0
order = sorted((float("inf") if le == "+Inf" else float(le), le) for le in d)
p99 = next(le for v, le in order if d[le] >= 0.99 * total)
print(f"server: {total:.0f} requests, {share('0.001'):.2f} % within 1 ms, "
      f"{share('0.002'):.2f} % within 2 ms, p99 <= {p99} s")
PY
}

run() { # label cookie connections delay_ms
  local label=$1 cookie=$2 conns=$3 pause=$4
  IPLIST="$work/ips.txt" COOKIE="$cookie" DELAY_MS=$pause timeout $((SECS + 30)) \
    taskset -c 1 wrk -t1 -c"$conns" -d5s -s bench/console.lua "$base" >/dev/null   # warm-up
  histogram > "$work/before"
  IPLIST="$work/ips.txt" COOKIE="$cookie" DELAY_MS=$pause timeout $((SECS + 30)) \
    taskset -c 1 wrk -t1 -c"$conns" -d"${SECS}s" --latency -s bench/console.lua "$base" > "$work/$label.txt"
  histogram > "$work/after"
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$label.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$label.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$label.txt")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$work/$label.txt"); non2xx=${non2xx:-0}
  echo "$label: ${rps} req/s, wrk p50 ${p50}, p99 ${p99}, non-2xx ${non2xx}, RSS $(ps -o rss= -p "$server_pid") KiB"
  echo "  $(server_share "$work/before" "$work/after")"
}

run operator-paced "$operator" 20 20
run holder-paced "$holder" 20 20
run operator-max "$operator" 16 0
run holder-max "$holder" 16 0

# The browser's view (Debian chromium + chromium-driver, selenium): first-visit transfer and
# the performance timings of 200 address pages, one after another.
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && python3 -c 'import selenium' 2>/dev/null; then
  timeout 300 python3 bench/console_browser.py "$base" "$key" "$work/ips.txt" 200
else
  echo "browser timings skipped: apt-get install chromium chromium-driver; pip install selenium"
fi
