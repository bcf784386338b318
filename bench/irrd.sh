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
PG_PORT=${PG_PORT:-15432} REDIS_PORT=${REDIS_PORT:-16379} IRRD_WHOIS=${IRRD_WHOIS:-18453}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$VENV/bin/irrd" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q irrd; }
work=$(mktemp -d /tmp/irrd-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -d "$work/pg" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== IRRd $("$VENV/bin/pip" show irrd 2>/dev/null | awk '/^Version/ {print $2}') on the same dump"
mkdir "$work/pg" "$work/run" "$work/gnupg"
chown postgres "$work/pg"
# IRRd refuses to run as root: it drops to this user after binding its ports.
id irrd >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin irrd
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
            max_connections: 17
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
# Ready when the whois port answers and the route preload is done: !g of the dump's first
# route's origin answers data.
probe=$(grep -m1 -A1 '^route:' "$DUMP" | awk '/^origin:/ {print $2}')
until printf '!g%s\n' "$probe" | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$IRRD_WHOIS; cat >&3; cat <&3" 2>/dev/null | grep -q '^A'; do
  sleep 1
  if ! kill -0 "$irrd_pid" 2>/dev/null; then echo "IRRd exited:"; tail -n 30 "$work/irrd.out" "$work/run/irrd.log"; exit 1; fi
  if (( $(date +%s) - started > 1800 )); then echo "IRRd not ready after 30 min"; exit 1; fi
done
echo "IRRd serving after $(( $(date +%s) - started )) s"
irrd_rss() { ps -eo rss=,args= | awk '/irrd/ && !/awk/ {s += $1} END {printf "%.0f MB", s/1024}'; }
echo "IRRd RSS (all processes): $(irrd_rss)"
IPINTEL_BENCH_WHOIS="127.0.0.1:$IRRD_WHOIS" IPINTEL_BENCH_IRR_ONLY=1 \
IPINTEL_BENCH_SECS=$SECS IPINTEL_BENCH_OBJECTS=$OBJECTS \
  taskset -c 0 cargo bench -q -p ipintel --bench whois
echo "IRRd RSS (all processes) at the end: $(irrd_rss)"
