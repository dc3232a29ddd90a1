#!/usr/bin/env bash
# Creates (once per requirements hash) the project's virtualenv under $GW_CACHE and
# points .venv at it. Prints nothing when it is current.
source "$(dirname "$0")/lib.sh"
cd "$GW_ROOT"
hash=$(cat requirements.txt requirements-test.txt | sha256sum | cut -c1-12)
venv="$GW_CACHE/venv-$hash"
if [ ! -x "$venv/bin/molecule" ]; then
  log "creating virtualenv $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r requirements-test.txt
  find "$GW_CACHE" -maxdepth 1 -name 'venv-*' ! -name "venv-$hash" -exec rm -rf {} +
fi
ln -sfn "$venv" "$GW_ROOT/.venv"
