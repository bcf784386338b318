#!/usr/bin/env bash
# IRRd on the same generated dump as bench/whois.sh, for a side-by-side ratio (issue 12).
# Called by `IRRD=1 bench/whois.sh` with the dump, its object count and the seconds per
# run; needs the Debian packages postgresql and redis-server and the PyPI package irrd (in
# a virtualenv: IRRD_VENV, default /tmp/irrd-venv; made when missing). Everything listens
# on 127.0.0.1 only: PostgreSQL (a throwaway cluster), Redis, IRRd's whois port. Then the
# same load generator (crates/server/benches/whois.rs) runs against IRRd's port, with only
# IRRd-style queries (IPINTEL_BENCH_IRR_ONLY), and the RSS of all IRRd processes together.
#
#   bench/irrd.sh DUMP OBJECTS SECS
set -euo pipefail
cd "$(dirname "$0")/.."
DUMP=$1 OBJECTS=$2 SECS=$3
VENV=${IRRD_VENV:-/tmp/irrd-venv}
# One IRRd whois worker per connection: 16 for the load generator, one spare.
WORKERS=17
PG_PORT=${PG_PORT:-15432} REDIS_PORT=${REDIS_PORT:-16379} IRRD_WHOIS=${IRRD_WHOIS:-18453}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
# IRRd drops to its own user after binding its ports, and imports modules after that: the
# venv's interpreter must be readable by that user (a pyenv under /root is not).
id irrd >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin irrd
if ! runuser -u irrd -- "$VENV/bin/python" -c 'import multiprocessing.queues, irrd' 2>/dev/null; then
  rm -rf "$VENV"
  "${IRRD_PYTHON:-/usr/bin/python3}" -m venv "$VENV" && "$VENV/bin/pip" install -q irrd
fi
work=$(mktemp -d /tmp/irrd-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -d "$work/pg" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "== IRRd $("$VENV/bin/pip" show irrd 2>/dev/null | awk '/^Version/ {print $2}') on the same dump"
mkdir "$work/pg" "$work/run" "$work/gnupg"
chown postgres "$work/pg"
chown irrd "$work/run" "$work/gnupg"
runuser -u postgres -- "$PG_BIN/initdb" -A trust -U irrd -D "$work/pg" >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$work/pg -c fsync=off -c synchronous_commit=off" start >/dev/null
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U irrd irrd
"$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U irrd -d irrd -c 'CREATE EXTENSION IF NOT EXISTS pgcrypto'
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
cat >"$work/irrd.yaml" <<YAML
irrd:
    database_url: 'postgresql://irrd@127.0.0.1:$PG_PORT/irrd'
    redis_url: 'redis://127.0.0.1:$REDIS_PORT/0'
    piddir: $work/run
    user: irrd
    group: irrd
    server:
        http:
            interface: '127.0.0.1'
            port: $((IRRD_WHOIS + 1))
            url: 'http://127.0.0.1:$((IRRD_WHOIS + 1))/'
        whois:
            interface: '127.0.0.1'
            port: $IRRD_WHOIS
            max_connections: $WORKERS
    auth:
        gnupg_keyring: $work/gnupg
    email:
        from: 'irrd@example.net'
        smtp: '127.0.0.1'
    rpki:
        roa_source: null
    log:
        level: WARNING
        logfile_path: $work/run/irrd.log
    sources_default:
        - TEST
    sources:
        TEST:
            keep_journal: false
YAML
"$VENV/bin/irrd_database_upgrade" --config "$work/irrd.yaml" >/dev/null
echo "irrd_load_database of $OBJECTS objects:"
/usr/bin/time -f "  %e s wall, peak RSS %M KiB (the loader)" \
  "$VENV/bin/irrd_load_database" --config "$work/irrd.yaml" --source TEST "$DUMP"
"$VENV/bin/irrd" --config "$work/irrd.yaml" --foreground >"$work/irrd.out" 2>&1 &
irrd_pid=$!
pids+=($irrd_pid)
started=$(date +%s)
# Ready when every whois worker answers !g of the dump's first route's origin with data.
# Each worker keeps its own copy of the route preload and loads it when Redis announces a
# finished preload; a worker that subscribed after the announcement waits (sleeping, with
# the query unanswered) for the next one. So: announce again until all of them answer,
# probing with as many simultaneous connections as there are workers.
probe=$(grep -m1 -A1 '^route:' "$DUMP" | awk '/^origin:/ {print $2}')
all_workers_answer() {
  "$VENV/bin/python" - "$IRRD_WHOIS" "$probe" "$WORKERS" <<'PY'
import socket, sys
port, origin, workers = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conns = []
try:
    for _ in range(workers):
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.sendall(f"!!\n!g{origin}\n".encode())
        conns.append(s)
    for s in conns:
        if not s.recv(64).startswith(b"A"):
            sys.exit(1)
except OSError:
    sys.exit(1)
PY
}
until all_workers_answer; do
  sleep 2
  # A crashed subprocess leaves the main process up: its CRITICAL line is the sign.
  if ! kill -0 "$irrd_pid" 2>/dev/null || grep -q CRITICAL "$work/run/irrd.log" 2>/dev/null; then
    echo "IRRd failed:"; tail -n 30 "$work/irrd.out" "$work/run/irrd.log"; exit 1
  fi
  if (( $(date +%s) - started > 1800 )); then echo "IRRd not ready after 30 min"; exit 1; fi
  if redis-cli -p "$REDIS_PORT" exists irrd-preload-origin-route4 | grep -q 1; then
    redis-cli -p "$REDIS_PORT" publish irrd-preload-complete-channel complete >/dev/null
  fi
done
echo "IRRd serving after $(( $(date +%s) - started )) s"
# IRRd's own processes (its user), and the PostgreSQL cluster and Redis it needs.
rss_of() { ps -o rss= "$@" | awk '{s += $1} END {printf "%.0f MB", s/1024}'; }
# Summed RSS counts the pages IRRd's forked workers share once per worker; PSS shares
# them out, so it is the fair total.
pss_of() {
  for p in $(ps -o pid= "$@"); do cat "/proc/$p/smaps_rollup" 2>/dev/null; done |
    awk '/^Pss:/ {s += $2} END {printf "%.0f MB", s/1024}'
}
irrd_rss() {
  echo "IRRd RSS $(rss_of -u irrd) (PSS $(pss_of -u irrd)), PostgreSQL RSS $(rss_of -u postgres) (PSS $(pss_of -u postgres)), Redis $(rss_of -p "${pids[0]}")"
}
echo "RSS: $(irrd_rss)"
IPINTEL_BENCH_WHOIS="127.0.0.1:$IRRD_WHOIS" IPINTEL_BENCH_IRR_ONLY=1 \
IPINTEL_BENCH_SECS=$SECS IPINTEL_BENCH_OBJECTS=$OBJECTS \
  taskset -c 0 cargo bench -q -p ipintel --bench whois
echo "RSS at the end: $(irrd_rss)"
if grep -q -E "ERROR|CRITICAL" "$work/run/irrd.log"; then
  # The readiness probe's connections, closed with an answer unread, show up as resets.
  echo "IRRd logged errors (count, message):"
  grep -E '#(ERROR|CRITICAL)\]' "$work/run/irrd.log" | sed -E 's/.*#(ERROR|CRITICAL)\] //' |
    cut -c1-200 | sort | uniq -c
fi
