#!/usr/bin/env bash
# Print the data directory ipintel uses when none is configured, by the same rule as the
# binary (`ipintel check-config` shows the one in effect, config file included):
# $IPINTEL_DATA_DIR, else $XDG_DATA_HOME/ipintel, else ~/.local/share/ipintel, else
# /var/lib/ipintel. Sourced or run by fetch-data.sh and bench/*.sh.
if [ -n "${IPINTEL_DATA_DIR:-}" ]; then
  echo "$IPINTEL_DATA_DIR"
elif [ -n "${XDG_DATA_HOME:-}" ] && [ "${XDG_DATA_HOME#/}" != "$XDG_DATA_HOME" ]; then
  echo "$XDG_DATA_HOME/ipintel"
elif [ -n "${HOME:-}" ] && [ "${HOME#/}" != "$HOME" ]; then
  echo "$HOME/.local/share/ipintel"
else
  echo /var/lib/ipintel
fi
