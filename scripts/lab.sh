#!/usr/bin/env bash
# `make lab` / `make lab-down`: the whole platform on local test hosts.
source "$(dirname "$0")/lib.sh"
cd "$GW_ROOT"
use_project_env
INV=inventories/lab
case "${1:-up}" in
  up)
    log "creating the lab hosts"
    ansible-playbook -i "$INV" scripts/lab/up.yml
    log "running site.yml on them"
    use_mitogen
    ansible-playbook -i "$INV" playbooks/site.yml
    ;;
  down)
    ansible-playbook -i "$INV" scripts/lab/down.yml
    ;;
  *) die "usage: lab.sh up|down" ;;
esac
