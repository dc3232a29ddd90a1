#!/usr/bin/env bash
# `make lab` / `make lab-down`: the whole platform on local test hosts.
source "$(dirname "$0")/lib.sh"
cd "$GW_ROOT"
export PATH="$GW_ROOT/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$GW_ROOT/build/collections"
export ANSIBLE_CONFIG="$GW_ROOT/ansible.cfg"
INV=inventories/lab
case "${1:-up}" in
  up)
    log "creating the lab hosts"
    ansible-playbook -i "$INV" scripts/lab/up.yml
    log "running site.yml on them"
    ansible-playbook -i "$INV" playbooks/site.yml
    ;;
  down)
    ansible-playbook -i "$INV" scripts/lab/down.yml
    ;;
  *) die "usage: lab.sh up|down" ;;
esac
