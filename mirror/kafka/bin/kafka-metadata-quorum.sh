#!/usr/bin/env bash
# groundwork: same as upstream bin/kafka-metadata-quorum.sh (main class org.apache.kafka.tools.MetadataQuorumCommand).
set -euo pipefail
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512M}"
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.MetadataQuorumCommand "$@"
