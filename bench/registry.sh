#!/usr/bin/env bash
# Registry benchmark (issue 11): generate the deterministic RPSL dump of
# crates/server/benches/registry.rs (seed 0x5eed2026, RIPE-like proportions, nested as-sets
# and route-sets, non-aligned ranges), import it with the real CLI (time, peak RSS, store
# size), re-import it unchanged, start the server on it (load time, steady RSS), then wrk
# pinned to core 0 against the server pinned to core 1: object lookups and most-specific
# address searches. Everything on 127.0.0.1.
#
#   bench/registry.sh                        # 1,000,000 objects
#   IPINTEL_BENCH_OBJECTS=100000 bench/registry.sh
#   IPINTEL_BENCH_OBJECTS=10000000 IPINTEL_BENCH_SIZES=ripe bench/registry.sh   # RIPE-sized objects
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTS=${IPINTEL_BENCH_OBJECTS:-1000000}
# IPINTEL_* variables are configuration to ipintel itself.
SIZES=${IPINTEL_BENCH_SIZES:-}
unset IPINTEL_BENCH_OBJECTS IPINTEL_BENCH_SIZES
PORT=${PORT:-18431}
DURATION=${DURATION:-10s}
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release -q -p ipintel
BIN="${CARGO_TARGET_DIR:-target}/release/ipintel"
IPINTEL_BENCH_OBJECTS=$OBJECTS IPINTEL_BENCH_SIZES=$SIZES IPINTEL_BENCH_DUMP="$work/dump.db" IPINTEL_BENCH_PHASE=dump \
  cargo bench -q -p ipintel --bench registry | grep -v '^$'
ls -l "$work/dump.db" | awk '{printf "dump: %.1f MB\n", $5/1e6}'

mkdir "$work/data"
import() {
  /usr/bin/time -f "  %e s wall, %U s user, peak RSS %M KiB" \
    "$BIN" --data-dir "$work/data" --create registry import --source TEST "$@"
}
echo "== import of a fresh store"
import "$work/dump.db"
du -cb "$work/data"/ipintel.db* | awk 'END {printf "  store: %.1f MB\n", $1/1e6}'
echo "== the same dump again (every object unchanged)"
import "$work/dump.db"

# Start the server and wait for the registry to answer; prints the time it took.
start_server() {
  started=$(date +%s.%N)
  IPINTEL_LOG=info taskset -c 1 "$BIN" --data-dir "$work/data" serve --listen "127.0.0.1:$PORT" --whois-listen off >"$work/server.log" 2>&1 &
  server_pid=$!
  until grep -q "registry loaded" "$work/server.log" 2>/dev/null; do sleep 0.02; done
  # (no MMDB databases here, so /readyz is 503: the registry API is what must answer)
  until curl -sf "http://127.0.0.1:$PORT/metadata/sources" >/dev/null; do sleep 0.02; done
  python3 -c "import sys; print(f'  registry loaded and serving after {float(sys.argv[2]) - float(sys.argv[1]):.2f} s')" "$started" "$(date +%s.%N)"
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=; }
# RSS with its anonymous (heap) and file-backed (the mapped registry file) parts.
rss() { awk '/^VmRSS/ {t=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {printf "%.0f MB (anon %.0f MB, file %.0f MB)", t/1024, a/1024, f/1024}' "/proc/$server_pid/status"; }
ls -l "$work/data/registry/" | awk '/ipreg/ {printf "  registry file: %.1f MB\n", $5/1e6}'

echo "== server start on the imported store (the import wrote the registry file)"
start_server
echo "  steady RSS: $(rss)"
stop_server
echo "== server start with the registry file removed (built from the store, then opened)"
rm -f "$work/data/registry/"*.ipreg
start_server
grep -o 'registry file built.*' "$work/server.log" | head -1 | sed 's/^/  /' || true
echo "  steady RSS: $(rss)"
stop_server
echo "== server start again (the file is there)"
start_server
echo "  steady RSS: $(rss)"

# Request lists: keys the generator made (aut-nums, maintainers, persons, inetnum ranges
# found by search), and random addresses in the generated space for most-specific searches.
python3 - "$OBJECTS" "$work" <<'PY'
import random, sys
objects, work = int(sys.argv[1]), sys.argv[2]
random.seed(2026)
people, maintainers = max(1, objects * 8 // 100), max(1, objects * 4 // 100)
lookups = []
for _ in range(20000):
    r = random.random()
    if r < 0.34:
        lookups.append(f"/test/aut-num/AS{4200000000 + random.randrange(max(1, objects // 100))}")
    elif r < 0.67:
        lookups.append(f"/test/mntner/MNT-{random.randrange(maintainers)}")
    else:
        n = random.randrange(people)
        kind = "role" if n % 4 == 0 else "person"
        lookups.append(f"/test/{kind}/P{n}-TEST")
open(f"{work}/lookups.txt", "w").write("\n".join(lookups) + "\n")
searches = []
for _ in range(20000):
    a = 0x0a000000 + random.randrange(1 << 20)
    ip = ".".join(str((a >> s) & 255) for s in (24, 16, 8, 0))
    searches.append(f"/search?query-string={ip}&flags=no-referenced&source=TEST")
open(f"{work}/searches.txt", "w").write("\n".join(searches) + "\n")
PY
# 4 connections saturate the server's core; 16 only add queueing (same rate, longer p99).
for connections in 4 16; do
  for list in lookups searches; do
    echo "== wrk: $list (1 thread, $connections connections, $DURATION; wrk on core 0, server on core 1)"
    PATHS="$work/$list.txt" taskset -c 0 wrk -t1 -c"$connections" -d"$DURATION" --latency -s bench/registry.lua \
      "http://127.0.0.1:$PORT" | grep -E 'Requests/sec|Latency|50%|99%|Non-2xx|Socket errors'
    echo "  server RSS after: $(rss)"
  done
done
