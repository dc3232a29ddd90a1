#!/usr/bin/env bash
# Smoke test of the artifact mirror: proves each artifact is the real thing by
# running it, on loopback only, with every wait bounded in time.
#   - SHA256SUMS of the mirror verifies;
#   - kafka: the tarball unpacks, a single-node KRaft server formats and starts
#     (with the JMX exporter agent attached), a topic is created, a message
#     goes through the console producer and comes back through the console
#     consumer; the JMX exporter serves Kafka's metrics; metadata-quorum and
#     consumer-groups answer; the consumer-group lag exporter reads the
#     group's committed offset and lag from the broker;
#   - minio + mc: `minio server` answers /minio/health/live, mc writes an
#     object and reads back the same bytes;
#   - openbao: `bao server -dev` answers sys/health, a KV secret is written and
#     read back;
#   - consumer_lag_exporter: reports the pinned version and lists its flags.
# Usage: tests/mirror/smoke.sh [kafka] [minio] [openbao] [consumer_lag_exporter]    (default: all)
# Env:   GW_MIRROR_DIR (default ~/.cache/groundwork/mirror), KEEP_TMP=1
# Needs: java (17+), curl, python3. Exits non-zero on the first failure.
set -euo pipefail

GW_CACHE="${GW_CACHE:-$HOME/.cache/groundwork}"
MIRROR_DIR="${GW_MIRROR_DIR:-$GW_CACHE/mirror}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gw-mirror-smoke.XXXXXX")
PIDS=()
T_START=$(date +%s)

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

cleanup() {
  local rc=$? pid i
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for i in $(seq 1 40); do # at most 20 s each, then SIGKILL
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ $rc != 0 ]; then
    # Show the tail of every service log to explain the failure.
    for f in "$TMP"/*.log; do
      [ -f "$f" ] || continue
      printf '\n--- last lines of %s ---\n' "$f" >&2
      tail -n 25 "$f" >&2
    done
  fi
  if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
  if [ $rc = 0 ]; then
    say "mirror smoke: PASS in $(($(date +%s) - T_START))s"
  else
    say "mirror smoke: FAILED (exit $rc) after $(($(date +%s) - T_START))s"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for DESCRIPTION SECONDS PID COMMAND...: retry COMMAND every 0.5 s,
# bounded; fail at once if process PID (the server being waited for) exits.
wait_for() {
  local desc=$1 secs=$2 pid=$3 i
  shift 3
  for i in $(seq 1 $((secs * 2))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || fail "$desc: the server exited"
    sleep 0.5
  done
  fail "$desc: not ready after ${secs}s"
}

# A free TCP port on 127.0.0.1 (other test runs may share this machine).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

alive() { kill -0 "$1" 2>/dev/null || fail "$2 exited early"; }

# artifact NAME: absolute path of NAME's file, from the mirror's index.json.
artifact() {
  local p
  p=$(python3 - "$MIRROR_DIR/index.json" "$1" <<'EOF'
import json, sys
for a in json.load(open(sys.argv[1]))["artifacts"]:
    if a["name"] == sys.argv[2]:
        print(a["path"])
EOF
  )
  [ -n "$p" ] || fail "$1 is not in $MIRROR_DIR/index.json: run scripts/mirror/build.sh"
  [ -f "$MIRROR_DIR/$p" ] || fail "$MIRROR_DIR/$p is missing"
  echo "$MIRROR_DIR/$p"
}

# version NAME: NAME's version in the mirror's index.json.
version() {
  python3 - "$MIRROR_DIR/index.json" "$1" <<'EOF'
import json, sys
print(next(a["version"] for a in json.load(open(sys.argv[1]))["artifacts"] if a["name"] == sys.argv[2]))
EOF
}

# reports_version WHAT OUTPUT WANT: fail unless OUTPUT mentions version WANT.
reports_version() {
  grep -qF -- "$3" <<<"$2" || fail "$1 reports '$(head -n1 <<<"$2")', expected version $3"
  say "$1: $(head -n1 <<<"$2")"
}

# stage NAME FUNCTION: run one stage and print how long it took.
stage() {
  local t0
  t0=$(date +%s)
  say "== $1"
  "$2"
  say "== $1: ok in $(($(date +%s) - t0))s"
}

# --- checksums ---------------------------------------------------------------

stage_checksums() {
  [ -f "$MIRROR_DIR/SHA256SUMS" ] || fail "no $MIRROR_DIR/SHA256SUMS: run scripts/mirror/build.sh"
  (cd "$MIRROR_DIR" && sha256sum --quiet --strict -c SHA256SUMS) || fail "SHA256SUMS does not verify"
  say "$(wc -l <"$MIRROR_DIR/SHA256SUMS") artifacts verify against SHA256SUMS"
}

# --- kafka (+ jmx exporter) ----------------------------------------------------

stage_kafka() {
  local tgz jar home cfg port cport mport pid topic msg got out i
  command -v java >/dev/null || fail "java is not installed"
  tgz=$(artifact kafka)
  jar=$(artifact jmx_exporter)
  mkdir -p "$TMP/kafka"
  tar -xzf "$tgz" -C "$TMP/kafka"
  home=$(echo "$TMP"/kafka/kafka_*)
  [ -x "$home/bin/kafka-server-start.sh" ] || fail "kafka tarball has no bin/kafka-server-start.sh"
  [ -f "$home/config/log4j2.yaml" ] || fail "kafka tarball has no config/log4j2.yaml"

  port=$(free_port) cport=$(free_port) mport=$(free_port)
  cfg="$TMP/kafka/server.properties"
  sed -e "s#^listeners=.*#listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport#" \
    -e "s#^advertised.listeners=.*#advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport#" \
    -e "s#^controller.quorum.bootstrap.servers=.*#controller.quorum.bootstrap.servers=127.0.0.1:$cport#" \
    -e "s#^log.dirs=.*#log.dirs=$TMP/kafka/data#" \
    "$home/config/server.properties" >"$cfg"
  printf 'lowercaseOutputName: true\nrules:\n  - pattern: ".*"\n' >"$TMP/kafka/jmx.yml"

  export KAFKA_HEAP_OPTS="-Xmx384M -Xms128M" LOG_DIR="$TMP/kafka/logs"
  timeout 120 "$home/bin/kafka-storage.sh" format --standalone \
    -t "$(timeout 60 "$home/bin/kafka-storage.sh" random-uuid)" -c "$cfg" >"$TMP/kafka-format.log" 2>&1 ||
    fail "kafka-storage.sh format failed: $(cat "$TMP/kafka-format.log")"

  KAFKA_OPTS="-javaagent:$jar=127.0.0.1:$mport:$TMP/kafka/jmx.yml" \
    "$home/bin/kafka-server-start.sh" "$cfg" >"$TMP/kafka.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for i in $(seq 1 180); do # 90 s
    alive "$pid" "kafka server"
    grep -q 'Kafka Server started' "$TMP/kafka.log" && break
    [ "$i" != 180 ] || fail "kafka server did not start in 90s"
    sleep 0.5
  done
  got=$(sed -n 's/.*Kafka version: *\([^ ]*\).*/\1/p' "$TMP/kafka.log" | head -n1)
  [ "$got" = "$(version kafka)" ] || fail "kafka reports version '$got', expected $(version kafka)"
  say "kafka $got started on 127.0.0.1:$port"

  topic="smoke-$RANDOM"
  timeout 60 "$home/bin/kafka-topics.sh" --bootstrap-server "127.0.0.1:$port" --create --topic "$topic" \
    --partitions 1 --replication-factor 1 || fail "kafka-topics.sh --create failed"
  out=$(timeout 60 "$home/bin/kafka-topics.sh" --bootstrap-server "127.0.0.1:$port" --describe --topic "$topic") ||
    fail "kafka-topics.sh --describe failed"
  grep -q "Topic: $topic" <<<"$out" || fail "kafka-topics.sh --describe does not show $topic: $out"

  msg="groundwork mirror smoke $(date +%s%N)"
  echo "$msg" | timeout 60 "$home/bin/kafka-console-producer.sh" --bootstrap-server "127.0.0.1:$port" --topic "$topic" ||
    fail "kafka-console-producer.sh failed"
  got=$(timeout 90 "$home/bin/kafka-console-consumer.sh" --bootstrap-server "127.0.0.1:$port" --topic "$topic" \
    --group smoke --from-beginning --max-messages 1 --timeout-ms 60000) || fail "kafka-console-consumer.sh failed"
  [ "$got" = "$msg" ] || fail "consumed '$got', produced '$msg'"
  say "message produced and consumed back: '$got'"

  out=$(timeout 60 "$home/bin/kafka-consumer-groups.sh" --bootstrap-server "127.0.0.1:$port" --describe --group smoke) ||
    fail "kafka-consumer-groups.sh --describe failed"
  grep -q "$topic" <<<"$out" || fail "kafka-consumer-groups.sh does not show group smoke on $topic: $out"
  out=$(timeout 60 "$home/bin/kafka-metadata-quorum.sh" --bootstrap-server "127.0.0.1:$port" describe --status) ||
    fail "kafka-metadata-quorum.sh describe --status failed"
  grep -qE '^LeaderId:[[:space:]]*1$' <<<"$out" || fail "kafka-metadata-quorum.sh: node 1 is not the leader: $out"
  lag_exporter_reads "127.0.0.1:$port" "$topic"
  [ -s "$TMP/kafka/logs/server.log" ] || fail "log4j2.yaml wrote no logs/server.log"

  # The JMX exporter agent inside the broker serves Kafka's MBeans as metrics.
  curl -fsS --max-time 10 "http://127.0.0.1:$mport/metrics" >"$TMP/kafka/metrics.txt" ||
    fail "jmx exporter: no /metrics on 127.0.0.1:$mport"
  # ...including the message this test produced, counted on its topic.
  grep -qE "^kafka_server_brokertopicmetrics_count\\{name=\"MessagesInPerSec\",topic=\"$topic\"\\} [1-9]" "$TMP/kafka/metrics.txt" ||
    fail "jmx exporter: no kafka_server_brokertopicmetrics_count{name=\"MessagesInPerSec\",topic=\"$topic\"} >= 1"
  say "jmx exporter serves $(grep -c '^kafka_' "$TMP/kafka/metrics.txt") kafka_* samples"

  kill -TERM "$pid"
  for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then fail "kafka did not stop within 30s of SIGTERM"; fi
  unset KAFKA_HEAP_OPTS LOG_DIR
}

# lag_exporter_reads BOOTSTRAP TOPIC: the consumer-group lag exporter, pointed at
# the broker, exports group smoke's committed offset (1: one message consumed),
# its lag (0) and the topic's newest offset (1).
lag_exporter_reads() {
  local bin lport pid series sel="consumergroup=\"smoke\",partition=\"0\",topic=\"$2\""
  bin=$(artifact consumer_lag_exporter)
  lport=$(free_port)
  "$bin" --kafka.server "$1" --web.listen-address "127.0.0.1:$lport" --group.filter smoke \
    >"$TMP/lag-exporter.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_for "lag exporter /metrics" 30 "$pid" curl -fsS --max-time 5 "http://127.0.0.1:$lport/metrics"
  curl -fsS --max-time 30 "http://127.0.0.1:$lport/metrics" >"$TMP/kafka/lag-metrics.txt" ||
    fail "lag exporter: no /metrics on 127.0.0.1:$lport"
  for series in 'kafka_lag_exporter_up 1' "kafka_consumergroup_current_offset{$sel} 1" \
    "kafka_consumergroup_lag{$sel} 0" "kafka_consumergroup_lag_sum{consumergroup=\"smoke\",topic=\"$2\"} 0" \
    "kafka_topic_partition_current_offset{partition=\"0\",topic=\"$2\"} 1"; do
    grep -qxF "$series" "$TMP/kafka/lag-metrics.txt" || fail "lag exporter: no '$series' in /metrics"
  done
  say "lag exporter: group smoke at offset 1 of $2, lag 0"
  kill -TERM "$pid"
}

# --- minio + mc ----------------------------------------------------------------

stage_minio() {
  local minio mc port cport pid user pass
  minio=$(artifact minio)
  mc=$(artifact mc)
  reports_version minio "$("$minio" --version)" "$(version minio)"
  reports_version mc "$("$mc" --version)" "$(version mc)"
  port=$(free_port) cport=$(free_port)
  user=smoke-admin pass="smoke-$RANDOM-$RANDOM-secret"
  mkdir -p "$TMP/minio/data"
  MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pass MINIO_BROWSER=off MINIO_UPDATE=off \
    "$minio" server --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$cport" \
    "$TMP/minio/data" >"$TMP/minio.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_for "minio /minio/health/live" 60 "$pid" curl -fsS --max-time 2 "http://127.0.0.1:$port/minio/health/live"
  alive "$pid" "minio server"

  local mcx=("$mc" --config-dir "$TMP/mc" --quiet --no-color)
  timeout 30 "${mcx[@]}" alias set smoke "http://127.0.0.1:$port" "$user" "$pass" >/dev/null ||
    fail "mc alias set failed"
  timeout 30 "${mcx[@]}" mb smoke/bucket >/dev/null || fail "mc mb failed"
  head -c 1048576 /dev/urandom >"$TMP/minio/object.in"
  timeout 60 "${mcx[@]}" cp "$TMP/minio/object.in" smoke/bucket/dir/object.bin >/dev/null || fail "mc cp (upload) failed"
  timeout 60 "${mcx[@]}" cat smoke/bucket/dir/object.bin >"$TMP/minio/object.out" || fail "mc cat failed"
  cmp -s "$TMP/minio/object.in" "$TMP/minio/object.out" || fail "object read back differs from what was written"
  timeout 30 "${mcx[@]}" stat smoke/bucket/dir/object.bin >"$TMP/minio/stat.txt" || fail "mc stat failed"
  grep -q 'Size' "$TMP/minio/stat.txt" || fail "mc stat shows no Size: $(cat "$TMP/minio/stat.txt")"
  say "1 MiB object written and read back identical through mc"
}

# --- openbao -------------------------------------------------------------------

stage_openbao() {
  local bao port pid secret got
  bao=$(artifact openbao)
  reports_version bao "$("$bao" version)" "v$(version openbao)"
  port=$(free_port)
  "$bao" server -dev -dev-root-token-id=smoke-root -dev-listen-address="127.0.0.1:$port" \
    -dev-no-store-token >"$TMP/openbao.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_for "openbao /v1/sys/health" 60 "$pid" curl -fsS --max-time 2 "http://127.0.0.1:$port/v1/sys/health"
  alive "$pid" "bao server"
  curl -fsS --max-time 5 "http://127.0.0.1:$port/v1/sys/health" |
    python3 -c 'import json,sys; h=json.load(sys.stdin); assert h["initialized"] and not h["sealed"], h; print("health:", h["version"], "initialized, unsealed")' >&2 ||
    fail "sys/health: not initialized and unsealed"

  export BAO_ADDR="http://127.0.0.1:$port" BAO_TOKEN=smoke-root
  secret="s3cr3t-$(date +%s%N)"
  timeout 30 "$bao" kv put -mount=secret smoke password="$secret" >/dev/null || fail "bao kv put failed"
  got=$(timeout 30 "$bao" kv get -mount=secret -field=password smoke) || fail "bao kv get failed"
  [ "$got" = "$secret" ] || fail "KV read back '$got', wrote '$secret'"
  # The same secret over plain HTTP (what hvac and community.hashi_vault use).
  got=$(curl -fsS --max-time 5 -H "X-Vault-Token: smoke-root" "$BAO_ADDR/v1/secret/data/smoke" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["data"]["password"])') || fail "KV read over HTTP failed"
  [ "$got" = "$secret" ] || fail "KV over HTTP read back '$got', wrote '$secret'"
  unset BAO_ADDR BAO_TOKEN
  say "KV v2 secret written and read back (CLI and HTTP API)"
}

# --- consumer-group lag exporter -----------------------------------------------

stage_lag_exporter() {
  local bin out flag
  bin=$(artifact consumer_lag_exporter)
  reports_version kafka-consumer-lag-exporter "$("$bin" --version)" "$(version consumer_lag_exporter)"
  out=$("$bin" --help 2>&1) || fail "kafka-consumer-lag-exporter --help failed"
  for flag in kafka.server kafka.version sasl.enabled sasl.mechanism sasl.username sasl.password-file \
    tls.enabled tls.ca-file web.listen-address group.filter; do
    grep -qE -- "^ +-$flag( |$)" <<<"$out" || fail "kafka-consumer-lag-exporter --help does not list --$flag"
  done
  say "kafka-consumer-lag-exporter --help lists its flags"
}

# --- main ----------------------------------------------------------------------

TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(kafka minio openbao consumer_lag_exporter)
say "mirror smoke: $MIRROR_DIR (${TARGETS[*]})"
stage checksums stage_checksums
for t in "${TARGETS[@]}"; do
  case "$t" in
    kafka) stage "kafka + jmx exporter + lag exporter" stage_kafka ;;
    minio) stage "minio + mc" stage_minio ;;
    openbao) stage openbao stage_openbao ;;
    consumer_lag_exporter) stage consumer_lag_exporter stage_lag_exporter ;;
    *) fail "unknown stage '$t' (kafka minio openbao consumer_lag_exporter)" ;;
  esac
done
