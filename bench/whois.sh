#!/usr/bin/env bash
# Whois benchmark (issue 12): the deterministic 1,000,000-object dump of
# crates/server/benches/registry.rs (with AS-BIG, 12,000 member AS numbers, and the as-set
# tree under AS-SET0), imported with the real CLI, served by `ipintel serve` pinned to core
# 1 with the whois front end on loopback (127.0.0.0/8 unmetered), and the load generator
# crates/server/benches/whois.rs pinned to core 0: heavy set queries (latency), then simple
# queries over 1 and 16 connections (queries/s). The server's RSS is printed beside every
# figure. Everything on 127.0.0.1.
#
#   bench/whois.sh                              # 1,000,000 objects
#   IPINTEL_BENCH_OBJECTS=100000 bench/whois.sh
#   IRRD=1 bench/whois.sh                       # also IRRd on the same dump (bench/irrd.sh)
#   IPINTEL_BENCH_OBJECTS=10000000 IPINTEL_BENCH_SIZES=ripe bench/whois.sh   # RIPE-sized objects
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTS=${IPINTEL_BENCH_OBJECTS:-1000000}
SECS=${IPINTEL_BENCH_SECS:-5}
SIZES=${IPINTEL_BENCH_SIZES:-}
# IPINTEL_* variables are configuration to ipintel itself.
unset IPINTEL_BENCH_OBJECTS IPINTEL_BENCH_SECS IPINTEL_BENCH_SIZES
PORT=${PORT:-18441}
WHOIS_PORT=${WHOIS_PORT:-18443}
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release -q -p ipintel
cargo bench --no-run -q -p ipintel --bench whois 2>/dev/null
BIN="${CARGO_TARGET_DIR:-target}/release/ipintel"
IPINTEL_BENCH_OBJECTS=$OBJECTS IPINTEL_BENCH_SIZES=$SIZES IPINTEL_BENCH_DUMP="$work/dump.rpsl" IPINTEL_BENCH_PHASE=dump \
  cargo bench -q -p ipintel --bench registry | grep -v '^$'
mkdir "$work/data" "$work/answers-ipintel" "$work/answers-irrd"
/usr/bin/time -f "import: %e s wall, peak RSS %M KiB" \
  "$BIN" --data-dir "$work/data" --create registry import --source TEST "$work/dump.rpsl" >/dev/null

IPINTEL_WHOIS__UNMETERED_NETWORKS=127.0.0.0/8 IPINTEL_LOG=info taskset -c 1 \
  "$BIN" --data-dir "$work/data" serve --listen "127.0.0.1:$PORT" --whois-listen "127.0.0.1:$WHOIS_PORT" \
  >"$work/server.log" 2>&1 &
server_pid=$!
until grep -q "registry loaded" "$work/server.log" 2>/dev/null; do sleep 0.1; done
until curl -sf "http://127.0.0.1:$PORT/v1/whois?q=!s-lc" >/dev/null; do sleep 0.1; done
echo "server loaded; RSS $(awk '/^VmRSS/ {t=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {printf "%.0f MB (anon %.0f, file %.0f)", t/1024, a/1024, f/1024}' "/proc/$server_pid/status")"

# With IRRD=1 both servers get the same IRRd-style query mix, for a fair ratio.
irr_only=; [ "${IRRD:-}" = 1 ] && irr_only=1
IPINTEL_BENCH_WHOIS="127.0.0.1:$WHOIS_PORT" IPINTEL_BENCH_SERVER_PID=$server_pid \
IPINTEL_BENCH_SECS=$SECS IPINTEL_BENCH_OBJECTS=$OBJECTS IPINTEL_BENCH_TSV="$work/ipintel.tsv" \
IPINTEL_BENCH_IRR_ONLY=$irr_only IPINTEL_BENCH_ANSWERS="$work/answers-ipintel" \
  taskset -c 0 cargo bench -q -p ipintel --bench whois
echo "server RSS at the end: $(awk '/^VmRSS/ {t=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {printf "%.0f MB (anon %.0f, file %.0f)", t/1024, a/1024, f/1024}' "/proc/$server_pid/status")"

if [ "${IRRD:-}" = 1 ]; then
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
  IPINTEL_BENCH_TSV="$work/irrd.tsv" IPINTEL_BENCH_ANSWERS="$work/answers-irrd" \
    bench/irrd.sh "$work/dump.rpsl" "$OBJECTS" "$SECS"
  echo "== the heavy answers compared (as sets of items: IRRd does not sort them)"
  python3 - "$work/answers-ipintel" "$work/answers-irrd" <<'PY'
import os, sys
ours_dir, theirs_dir = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(ours_dir)):
    path = os.path.join(theirs_dir, name)
    if not os.path.exists(path):
        print(f"  {name:<16} IRRd gave no answer")
        continue
    ours = set(open(os.path.join(ours_dir, name), "rb").read().split())
    theirs = set(open(path, "rb").read().split())
    if ours == theirs:
        print(f"  {name:<16} the same {len(ours)} items")
    else:
        only_ours = sorted(ours - theirs)[:5]
        only_theirs = sorted(theirs - ours)[:5]
        print(f"  {name:<16} differ: {len(ours - theirs)} only in ipintel {only_ours}, "
              f"{len(theirs - ours)} only in IRRd {only_theirs}")
PY
  echo "== side by side (same dump, same queries, same load generator)"
  python3 - "$work/ipintel.tsv" "$work/irrd.tsv" <<'PY'
import sys
def read(path):
    return dict(l.rstrip("\n").split("\t") for l in open(path) if "\t" in l)
ours, theirs = read(sys.argv[1]), read(sys.argv[2])
print(f"  {'figure':<34} {'ipintel':>12} {'IRRd':>12}  ratio")
for name, value in ours.items():
    if name not in theirs:
        continue
    a, b = float(value), float(theirs[name])
    better = a / b if "queries/s" in name else (b / a if a else float("inf"))
    print(f"  {name:<34} {a:>12.3f} {b:>12.3f}  {better:.1f}x")
PY
fi
