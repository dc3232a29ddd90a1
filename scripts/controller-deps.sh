#!/usr/bin/env bash
# Debian packages the tests need on this machine (the controller): services the module
# integration tests start on loopback, promtool for the rule unit tests, chromium for the
# dashboard screenshots in the monitoring scenario.
source "$(dirname "$0")/lib.sh"
pkgs=(haproxy postgresql redis-server redis-sentinel prometheus chromium fonts-dejavu-core)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq -o Acquire::Retries=2 || true
  # policy-rc.d keeps the packages' own services from starting: the tests start their own
  created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created" = 0 ] || rm -f /usr/sbin/policy-rc.d
fi
