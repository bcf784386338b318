#!/usr/bin/env bash
# NRTM benchmark (issue 20): how long a mirror takes to apply a journal of CHANGES entries
# and how far it lags behind its upstream. Two ipintel servers on 127.0.0.1: UP holds the
# generator's dump (crates/server/benches/registry.rs, OBJECTS objects) at serial 1 and
# serves NRTM; DOWN mirrors it from the same dump, polling every second. Then UP imports a
# dump in which CHANGES objects changed (a `remarks:` line added to every Nth object), which
# journals CHANGES entries, and the clock runs until DOWN reports UP's new serial. Then a
# stream: ROUNDS more imports on UP, one after the other, each changing STREAM other objects
# (and so reverting the round before), and DOWN's lag behind each. RSS of DOWN beside the
# figures.
#
#   bench/nrtm.sh                                   # 1,000,000 objects, 100,000 changes
#   OBJECTS=100000 CHANGES=10000 bench/nrtm.sh
#   ROUNDS=5 STREAM=1000 bench/nrtm.sh              # the stream (defaults)
#   BENCH_BIN=path bench/nrtm.sh                    # another ipintel binary
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTS=${OBJECTS:-1000000}
CHANGES=${CHANGES:-100000}
ROUNDS=${ROUNDS:-5} STREAM=${STREAM:-1000}
UP_WHOIS=${UP_WHOIS:-18531} DOWN_WHOIS=${DOWN_WHOIS:-18532}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
if [ -z "${BENCH_BIN:-}" ]; then cargo build --release -q -p ipintel; fi
BIN=${BENCH_BIN:-"${CARGO_TARGET_DIR:-target}/release/ipintel"}
IPINTEL_BENCH_OBJECTS=$OBJECTS IPINTEL_BENCH_DUMP="$work/one.db" IPINTEL_BENCH_PHASE=dump \
  cargo bench -q -p ipintel --bench registry | grep -v '^$'
python3 - "$work/one.db" "$work/two.db" "$OBJECTS" "$CHANGES" <<'PY'
import sys
src, dst, objects, changes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
every = max(1, objects // changes)
changed = 0
with open(src) as f, open(dst, "w") as out:
    for i, paragraph in enumerate(f.read().split("\n\n")):
        if paragraph.strip() and i % every == 0 and changed < changes and "\nsource:" in paragraph:
            paragraph = paragraph.replace("\nsource:", "\nremarks:        changed for the NRTM benchmark\nsource:", 1)
            changed += 1
        out.write(paragraph + "\n\n")
print(f"second dump: {changed} objects changed")
PY
mkdir "$work/up" "$work/down"
printf '[whois]\nlisten = "127.0.0.1:%s"\nnrtm_clients = ["127.0.0.1/32"]\n' "$UP_WHOIS" >"$work/up/c.toml"
printf '[whois]\nlisten = "127.0.0.1:%s"\n[[registry.mirrors]]\nsource = "TEST"\nnrtm = "127.0.0.1:%s"\ndump = "%s"\ndump_serial = 1\ninterval_secs = 1\n' \
  "$DOWN_WHOIS" "$UP_WHOIS" "$work/one.db" >"$work/down/c.toml"
"$BIN" --data-dir "$work/up" --config "$work/up/c.toml" --create registry import --source TEST "$work/one.db" --serial 1 >/dev/null
IPINTEL_LOG=info taskset -c 0 "$BIN" --data-dir "$work/up" --config "$work/up/c.toml" serve --listen 127.0.0.1:0 >"$work/up/log" 2>&1 &
pids+=($!)
IPINTEL_LOG=info taskset -c 1 "$BIN" --data-dir "$work/down" --config "$work/down/c.toml" --create serve --listen 127.0.0.1:0 >"$work/down/log" 2>&1 &
down_pid=$!
pids+=($down_pid)
serial_of() {
  python3 - "$1" 2>/dev/null <<'PY' || true
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"!jTEST\n"); s.shutdown(socket.SHUT_WR)
d = b""
while True:
    c = s.recv(4096)
    if not c: break
    d += c
print(d.decode().split("\n")[1].split("-")[-1])
PY
}
rss() { awk '/^VmRSS/ {printf "%.0f MB", $2/1024}' "/proc/$1/status"; }
until [ "$(serial_of "$DOWN_WHOIS")" = "1" ]; do sleep 0.5; done
until grep -q "registry loaded objects=[1-9]" "$work/down/log"; do sleep 0.5; done
echo "mirror started from the dump at serial 1; DOWN RSS $(rss "$down_pid")"
/usr/bin/time -f "UP's import of the changed dump: %e s wall" \
  "$BIN" --data-dir "$work/up" --config "$work/up/c.toml" registry import --source TEST "$work/two.db" --json >"$work/two.json"
done_at=$(date +%s.%N)
# UP serves the journal from the end of its store write, before the CLI builds its registry
# file (the "indexing" phase): DOWN's lag counts from then.
written_at() { python3 -c 'import json, sys; print(float(sys.argv[1]) - json.load(open(sys.argv[2]))["phases"]["indexing"])' "$1" "$2"; }
done_at=$(written_at "$done_at" "$work/two.json")
target=$((1 + CHANGES))
seconds_since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(date +%s.%N)"; }
until grep -q "journal applied.*serial=$target" "$work/down/log"; do sleep 0.1; done
echo "DOWN's store at serial $target $(seconds_since "$done_at") s after UP's store had it (polls every 1 s):"
grep "journal applied" "$work/down/log" | tail -1 | sed 's/^.*INFO //; s/^/  /'
until [ "$(serial_of "$DOWN_WHOIS")" = "$target" ]; do sleep 0.1; done
echo "DOWN serving serial $target $(seconds_since "$done_at") s after (its registry file rebuilt from its store)"
until [ "$(serial_of "$UP_WHOIS")" = "$target" ]; do sleep 0.1; done
echo "UP serving serial $target $(seconds_since "$done_at") s after"
sleep 2
echo "DOWN RSS after applying: $(rss "$down_pid")"
sleep 10
echo "DOWN RSS 12 s after (the server returns freed heap every 10 s): $(rss "$down_pid")"

# The stream: round R changes STREAM objects (every OBJECTS/STREAM-th, offset by R) of the
# second dump, so each import journals the previous round's objects back and this round's.
python3 - "$work/two.db" "$work" "$OBJECTS" "$STREAM" "$ROUNDS" <<'PY'
import sys
src, work, objects, stream, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
paragraphs = open(src).read().split("\n\n")
every = max(1, objects // stream)
for r in range(1, rounds + 1):
    with open(f"{work}/round{r}.db", "w") as out:
        for i, p in enumerate(paragraphs):
            if p.strip() and i % every == r % every and "\nsource:" in p:
                p = p.replace("\nsource:", f"\nremarks:        stream round {r}\nsource:", 1)
            out.write(p + "\n\n")
PY
echo "== a stream of $ROUNDS imports on UP, $STREAM objects changed in each"
for r in $(seq "$ROUNDS"); do
  start=$(date +%s.%N)
  "$BIN" --data-dir "$work/up" --config "$work/up/c.toml" registry import --source TEST "$work/round$r.db" --json >"$work/round.json"
  done_at=$(date +%s.%N)
  stored_at=$(written_at "$done_at" "$work/round.json")
  # UP's newest serial is the one its store journaled; DOWN is caught up when it serves it.
  up_serial=$("$BIN" --data-dir "$work/up" --config "$work/up/c.toml" registry sources --json |
    python3 -c 'import json, sys; print(next(s["serial"] for s in json.load(sys.stdin) if s["source"] == "TEST"))')
  until [ "$(serial_of "$DOWN_WHOIS")" = "$up_serial" ]; do sleep 0.1; done
  echo "round $r: UP's import $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$done_at") s; DOWN serving serial $up_serial $(seconds_since "$stored_at") s after UP's store had it; DOWN RSS $(rss "$down_pid")"
done
