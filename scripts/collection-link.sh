#!/usr/bin/env bash
# Makes this checkout importable as the collection groundwork.platform
# (build/collections/ansible_collections/groundwork/platform -> repository root).
source "$(dirname "$0")/lib.sh"
link="$GW_ROOT/build/collections/ansible_collections/groundwork/platform"
mkdir -p "$(dirname "$link")"
[ "$(readlink "$link" 2>/dev/null)" = "$GW_ROOT" ] || ln -sfn "$GW_ROOT" "$link"
