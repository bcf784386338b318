# Shared set-up for bench/*.sh (sourced): a release build, a throwaway data directory using
# the databases fetched by scripts/fetch-data.sh, a pro key, and `ipintel serve` pinned to core 0 on
# 127.0.0.1:$PORT. Everything started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# BENCH_BIN=path measures an already built binary (an A/B against another commit).
if [ -z "${BENCH_BIN:-}" ]; then cargo build --release -q -p ipintel; fi
BIN=${BENCH_BIN:-"${CARGO_TARGET_DIR:-target}/release/ipintel"}
mkdir -p "$work/data"
DB_DIR=${DB_DIR:-$(scripts/data-dir.sh)}
ln -s "$DB_DIR/GeoLite2-City.mmdb" "$DB_DIR/GeoLite2-ASN.mmdb" "$work/data/"
creds=$("$BIN" --data-dir "$work/data" --create keys create --plan pro --json)
account=$(echo "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["account_id"])')
key=$(echo "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

# start_server PORT: serve on 127.0.0.1:PORT (core 0) and wait until ready; sets server_pid.
start_server() {
  IPINTEL_LOG=warn taskset -c 0 "$BIN" --data-dir "$work/data" serve --listen "127.0.0.1:$1" --whois-listen off >"$work/server.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "server did not become ready" >&2
  return 1
}

# random_ipv4 N SEED: N random public IPv4 addresses (no multicast), one per line.
random_ipv4() {
  python3 - "$1" "$2" <<'PY'
import ipaddress, random, sys
n, seed = int(sys.argv[1]), int(sys.argv[2])
random.seed(seed)
out = []
while len(out) < n:
    ip = ipaddress.IPv4Address(random.getrandbits(32))
    # is_global admits multicast, which MaxMind (and ipintel) call reserved.
    if ip.is_global and not ip.is_multicast:
        out.append(str(ip))
print("\n".join(out))
PY
}
