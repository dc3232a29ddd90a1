#!/usr/bin/env bash
# groundwork: same as upstream bin/kafka-storage.sh (main class kafka.tools.StorageTool).
set -euo pipefail
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512M}"
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
