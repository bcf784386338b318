#!/usr/bin/env bash
# Interleaved A/B of the HTTP benchmark against an earlier commit: builds BASE (default
# HEAD~1) in a temporary worktree, then runs bench/http.sh SECS in both trees, alternating,
# ROUNDS times. Loopback only; both trees use the databases fetch-data.sh fetched.
# Usage: bench/ab.sh [BASE] [SECS, default 20] [ROUNDS, default 2]
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-HEAD~1}
SECS=${2:-20}
ROUNDS=${3:-2}
base_dir=$(mktemp -d)
trap 'git worktree remove --force "$base_dir" >/dev/null 2>&1 || true' EXIT
git worktree add -q --detach "$base_dir" "$BASE"
DB_DIR=${DB_DIR:-$(scripts/data-dir.sh)}
export DB_DIR
ln -s "$DB_DIR" "$base_dir/data"
for round in $(seq "$ROUNDS"); do
  for side in base new; do
    dir=$PWD; [ "$side" = base ] && dir=$base_dir
    echo "=== $side ($([ "$side" = base ] && echo "$BASE" || echo working tree)) round $round"
    (cd "$dir" && PORT=$((18100 + round)) NGINX_PORT=$((18200 + round)) bash bench/http.sh "$SECS" | tail -6)
  done
done
