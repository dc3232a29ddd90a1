#!/usr/bin/env bash
# groundwork: stop the Kafka server(s) started from this installation (SIGTERM,
# which Kafka handles as a controlled shutdown). Optional: --process-role broker|controller
set -uo pipefail
base_dir="$(cd "$(dirname "$0")/.." && pwd)"
pids=$(pgrep -f -- "-cp ([^ ]*:)?${base_dir}/libs/\\* .*kafka\\.Kafka " || true)
if [ -z "$pids" ]; then
  echo "No kafka server to stop" >&2
  exit 1
fi
# shellcheck disable=SC2086
kill -s TERM $pids
