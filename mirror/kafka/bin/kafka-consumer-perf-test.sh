#!/usr/bin/env bash
# groundwork: same as upstream bin/kafka-consumer-perf-test.sh (main class org.apache.kafka.tools.ConsumerPerformance).
set -euo pipefail
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512M}"
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.ConsumerPerformance "$@"
