#!/usr/bin/env bash
# Mirroring both ways with a real IRRd (tests/it/irrd.rs runs this): ipintel UP serves
# source TEST (tests/registry/gen1.rpsl at serial 100) over NRTM; IRRd mirrors it (first
# dump from a file, then NRTM, keeping its own journal); ipintel DOWN mirrors IRRd. After
# UP imports gen2.rpsl (two changes, an addition, a deletion), IRRd and DOWN must answer a
# set of IRRd queries exactly as UP does. Everything listens on 127.0.0.1: PostgreSQL (a
# throwaway cluster), Redis, IRRd, both ipintel servers. Exits non-zero on any difference
# or if a step does not happen in time; every process it started is stopped on exit.
#
# Needs: IRRD_VENV (a virtualenv with PyPI irrd 4.5, readable by the user irrd), PORT_BASE
# (10 free ports from there), the Debian packages postgresql and redis-server, root (IRRd
# drops to the user irrd; initdb runs as postgres), and ipintel on PATH.
set -euo pipefail
REGISTRY=$(cd "$(dirname "$0")/../registry" && pwd)
W=$(mktemp -d /tmp/ipintel-irrd.XXXXXX)
chmod 755 "$W"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_PORT=$PORT_BASE REDIS_PORT=$((PORT_BASE + 1)) IRRD_WHOIS=$((PORT_BASE + 2))
UP_WHOIS=$((PORT_BASE + 4)) DOWN_WHOIS=$((PORT_BASE + 5))
UP_HTTP=$((PORT_BASE + 6)) DOWN_HTTP=$((PORT_BASE + 7))
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$W/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$W/run/irrd.log" "$W/down/log" >&2 2>/dev/null || true; exit 1; }

id irrd >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin irrd
mkdir "$W/pg" "$W/run" "$W/gnupg" "$W/up" "$W/down"
chown postgres "$W/pg"
chown irrd "$W/run" "$W/gnupg"
runuser -u postgres -- "$PG_BIN/initdb" -A trust -U irrd -D "$W/pg" >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$W/pg" -l "$W/pg/log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$W/pg -c fsync=off" start >/dev/null
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U irrd irrd
"$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U irrd -d irrd -c 'CREATE EXTENSION IF NOT EXISTS pgcrypto'
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no >"$W/redis.log" 2>&1 &
pids+=($!)

# UP: gen1 at serial 100, NRTM open to loopback.
printf '[whois]\nlisten = "127.0.0.1:%s"\nnrtm_clients = ["127.0.0.1/32"]\n[registry]\nrefresh_ms = 200\n' "$UP_WHOIS" >"$W/up/c.toml"
ipintel --data-dir "$W/up" --config "$W/up/c.toml" --create registry import --source TEST "$REGISTRY/gen1.rpsl" --serial 100 >/dev/null
ipintel --data-dir "$W/up" --config "$W/up/c.toml" serve --listen "127.0.0.1:$UP_HTTP" >"$W/up/log" 2>&1 &
pids+=($!)

# IRRd: the same first dump at serial 100, then UP's journal every 15 s (its shortest).
cp "$REGISTRY/gen1.rpsl" "$W/first.db"
echo 100 >"$W/FIRST.SERIAL"
chmod 644 "$W/first.db" "$W/FIRST.SERIAL"
touch "$W/run/irrd.log"
chown irrd "$W/run/irrd.log"
cat >"$W/irrd.yaml" <<YAML
irrd:
    database_url: 'postgresql://irrd@127.0.0.1:$PG_PORT/irrd'
    redis_url: 'redis://127.0.0.1:$REDIS_PORT/0'
    piddir: $W/run
    user: irrd
    group: irrd
    access_lists:
        loopback:
            - 127.0.0.0/8
    server:
        http:
            interface: '127.0.0.1'
            port: $((PORT_BASE + 3))
            url: 'http://127.0.0.1:$((PORT_BASE + 3))/'
        whois:
            interface: '127.0.0.1'
            port: $IRRD_WHOIS
            max_connections: 4
    auth:
        gnupg_keyring: $W/gnupg
    email:
        from: 'irrd@example.net'
        smtp: '127.0.0.1'
    rpki:
        roa_source: null
    log:
        level: INFO
        logfile_path: $W/run/irrd.log
    sources_default:
        - TEST
    sources:
        TEST:
            keep_journal: true
            import_source: 'file://$W/first.db'
            import_serial_source: 'file://$W/FIRST.SERIAL'
            nrtm_host: '127.0.0.1'
            nrtm_port: $UP_WHOIS
            import_timer: 15
            nrtm_access_list: loopback
YAML
"$IRRD_VENV/bin/irrd_database_upgrade" --config "$W/irrd.yaml" >/dev/null
"$IRRD_VENV/bin/irrd" --config "$W/irrd.yaml" --foreground >"$W/irrd.out" 2>&1 &
pids+=($!)

# One query, the whole answer (the connection closes after it).
q() {
  python3 - "$1" "$2" 2>/dev/null <<'PY' || true
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall((sys.argv[2] + "\n").encode())
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode())
PY
}
wait_for() { # port query expected seconds what
  for _ in $(seq "$4"); do
    if q "$1" "$2" | grep -qF "$3"; then return 0; fi
    sleep 1
  done
  fail "$5: '$2' on port $1 never answered '$3'; last: $(q "$1" "$2" | tr '\n' ' ')"
}
wait_for "$IRRD_WHOIS" '!jTEST' 'TEST:Y:0-100' 60 "IRRd's first import"

# A changed dump on UP: journal 101-104, which IRRd takes over NRTM.
ipintel --data-dir "$W/up" --config "$W/up/c.toml" registry import --source TEST "$REGISTRY/gen2.rpsl" >/dev/null
wait_for "$IRRD_WHOIS" '!jTEST' 'TEST:Y:0-104' 60 "IRRd mirroring ipintel"

# DOWN mirrors IRRd from the same first dump.
printf '[whois]\nlisten = "127.0.0.1:%s"\n[registry]\nrefresh_ms = 200\n[[registry.mirrors]]\nsource = "TEST"\nnrtm = "127.0.0.1:%s"\ndump = "%s"\ndump_serial = 100\ninterval_secs = 1\n' \
  "$DOWN_WHOIS" "$IRRD_WHOIS" "$W/first.db" >"$W/down/c.toml"
ipintel --data-dir "$W/down" --config "$W/down/c.toml" --create serve --listen "127.0.0.1:$DOWN_HTTP" >"$W/down/log" 2>&1 &
pids+=($!)
wait_for "$DOWN_WHOIS" '!jTEST' 'TEST:Y:0-104' 60 "ipintel mirroring IRRd"

# Set answers compare as sets: IRRd's order is arbitrary, ipintel's sorted (docs/decisions.md).
as_set() {
  local head payload rest
  IFS= read -r head || true
  IFS= read -r payload || true
  rest=$(cat)
  printf '%s\n%s\n%s\n' "$head" "$(tr ' ' '\n' <<<"$payload" | sort | paste -sd' ')" "$rest"
}
# ... and several objects compare in any order (IRRd's is its database's).
as_written() {
  sed -e '1s/^A[0-9]*$/A/' -e 's/, */,/g' | python3 -c '
import sys
lines = sys.stdin.read().split("\n")
if lines and lines[0] == "A":
    end = max(i for i, l in enumerate(lines) if l == "C")
    objects = "\n".join(lines[1:end]).strip("\n").split("\n\n")
    lines = ["A", "\n\n".join(sorted(objects))] + lines[end:]
print("\n".join(lines))'
}
same=0
for query in '!gAS64496' '!gAS64497' '!6AS64496' '!iAS-EXAMPLE' '!iAS-EXAMPLE,1' '!iRS-EXAMPLE,1' \
  '!aAS-EXAMPLE' '!r192.0.2.0/24,M' '!r203.0.113.0/24,M' '!r192.0.2.0/25,o' \
  '!maut-num,AS64497' '!mmntner,EX-MNT' '!mroute,192.0.2.0/25AS64496' \
  '!minetnum,203.0.113.64 - 203.0.113.95' '!minetnum,203.0.113.0 - 203.0.113.255' '!oBC-MNT' \
  '!mas-set,AS-EXAMPLE' '!mroute-set,RS-EXAMPLE'; do
  order=cat
  case "$query" in
    '!g'* | '!6'* | '!i'* | '!a'* | *',o') order=as_set ;;
    # IRRd re-joins list values with bare commas (`AS1,AS2`); ipintel keeps the spacing
    # written (docs/decisions.md), so objects compare without it and without the length.
    '!m'* | '!o'* | '!r'*) order=as_written ;;
  esac
  up=$(q "$UP_WHOIS" "$query" | $order)
  [ -n "$up" ] || fail "no answer from UP to $query"
  irrd=$(q "$IRRD_WHOIS" "$query" | $order)
  down=$(q "$DOWN_WHOIS" "$query" | $order)
  [ "$up" = "$irrd" ] || fail "IRRd answers $query differently: $(diff <(echo "$up") <(echo "$irrd") | head -20)"
  [ "$up" = "$down" ] || fail "DOWN answers $query differently: $(diff <(echo "$up") <(echo "$down") | head -20)"
  same=$((same + 1))
done
echo "same answers from ipintel, IRRd mirroring it and ipintel mirroring IRRd: $same queries"
