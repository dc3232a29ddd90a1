# Shared helpers for the project's scripts. Source it; do not run it.
# shellcheck shell=bash
set -euo pipefail

GW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GW_CACHE="${GW_CACHE:-$HOME/.cache/groundwork}"
mkdir -p "$GW_CACHE"

log() { printf '\033[1m[%s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# The Debian mirror this machine's own apt uses (deb822 or one-line sources).
debian_mirror() {
  local m
  m=$(grep -hoE '^URIs: *http[^ ]+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
  [ -n "$m" ] || m=$(grep -hoE '^deb +http[^ ]+/debian/? ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1 | awk '{print $2}')
  echo "${m:-http://deb.debian.org/debian}"
}

# apt proxy on the host (apt-cacher-ng), used by debootstrap and the test hosts.
APT_PROXY_PORT="${APT_PROXY_PORT:-3142}"

# The project's virtualenv, this checkout as the collection groundwork.platform, ansible.cfg.
use_project_env() {
  export PATH="$GW_ROOT/.venv/bin:$PATH"
  export ANSIBLE_COLLECTIONS_PATH="$GW_ROOT/build/collections"
  export ANSIBLE_CONFIG="$GW_ROOT/ansible.cfg"
}

# Mitogen's linear strategy (requirements.txt): the same task order and results as Ansible's
# linear strategy, with one persistent Python interpreter per host instead of a new process
# and a module transfer per task. It takes over the connection types it knows by their short
# names (docker, ssh, local), hence `ansible_connection: docker` in the lab's inventory.
# GW_STRATEGY=linear keeps Ansible's own.
use_mitogen() {
  [ "${GW_STRATEGY:-mitogen_linear}" != linear ] || return 0
  ANSIBLE_STRATEGY_PLUGINS="$("$GW_ROOT/.venv/bin/python" -c 'import ansible_mitogen, os; print(os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"))')"
  export ANSIBLE_STRATEGY_PLUGINS ANSIBLE_STRATEGY="${GW_STRATEGY:-mitogen_linear}"
}
