#!/usr/bin/env bash
# Build the groundwork artifact mirror: software Debian does not package, built
# from Maven Central and the Go module proxy at the versions pinned in
# mirror/versions.yml, laid out under $GW_CACHE/mirror (default
# ~/.cache/groundwork/mirror) with SHA256SUMS and index.json at its root.
#
# Usage: scripts/mirror/build.sh [--force] [ARTIFACT...]
#        scripts/mirror/build.sh --list        # artifacts, pins, current/stale
#        scripts/mirror/build.sh --verify      # sha256sum -c SHA256SUMS
#        scripts/mirror/build.sh --key         # one hash of all recipes (a CI cache key)
#   ARTIFACT: kafka jmx_exporter minio mc openbao consumer_lag_exporter (default: all)
#
# Each artifact is keyed by a hash of its recipe (its build function, its pins,
# the files under mirror/<artifact>/ and the toolchain version). When the key
# matches and the file is present the artifact is 'current' and nothing runs.
#
# Environment: GW_CACHE (~/.cache/groundwork), GW_MIRROR_DIR ($GW_CACHE/mirror),
# GW_GO_DIR ($GW_CACHE/go: GOMODCACHE, GOCACHE), GW_M2_DIR ($GW_CACHE/m2: the
# local Maven repository), GOPROXY (Go default), GO (go binary).
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

MIRROR_SRC="$GW_ROOT/mirror"
PINS="$MIRROR_SRC/versions.yml"
MIRROR_DIR="${GW_MIRROR_DIR:-$GW_CACHE/mirror}"
GO_DIR="${GW_GO_DIR:-$GW_CACHE/go}"
M2_DIR="${GW_M2_DIR:-$GW_CACHE/m2}"
STATE_DIR="$MIRROR_DIR/.state"
ALL_ARTIFACTS=(kafka jmx_exporter minio mc openbao consumer_lag_exporter)
# Fixed timestamp for the files inside the Kafka tarball, so that the same
# recipe gives the same bytes (and the same sha256) on every machine.
TAR_EPOCH=1704067200 # 2024-01-01T00:00:00Z

# --- pins ---------------------------------------------------------------------

# pin KEY: the value of `KEY: "value"` in versions.yml (flat file, no nesting).
pin() {
  local v
  v=$(sed -nE "s/^$1:[[:space:]]*\"?([^\"#]*[^\"# ])\"?[[:space:]]*(#.*)?\$/\\1/p" "$PINS")
  [ -n "$v" ] || die "pin '$1' is missing from $PINS"
  printf '%s' "$v"
}

# --- per-artifact description: version, path in the mirror, pins ---------------

art_version() {
  case "$1" in
    kafka) pin mirror_kafka_version ;;
    jmx_exporter) pin mirror_jmx_exporter_version ;;
    minio) pin mirror_minio_version ;;
    mc) pin mirror_mc_version ;;
    openbao) pin mirror_openbao_version ;;
    consumer_lag_exporter) pin mirror_consumer_lag_exporter_version ;;
    *) die "unknown artifact '$1' (known: ${ALL_ARTIFACTS[*]})" ;;
  esac
}

art_file() {
  local v; v=$(art_version "$1")
  case "$1" in
    kafka) echo "kafka_$(pin mirror_kafka_scala_version)-$v.tgz" ;;
    jmx_exporter) echo "jmx_prometheus_javaagent-$v.jar" ;;
    minio) echo minio ;;
    mc) echo mc ;;
    openbao) echo bao ;;
    consumer_lag_exporter) echo kafka-consumer-lag-exporter ;;
  esac
}

# Path relative to the mirror root: NAME/VERSION/FILE
art_path() { echo "$1/$(art_version "$1")/$(art_file "$1")"; }

art_toolchain() {
  case "$1" in
    kafka | jmx_exporter) echo "maven-dependency-plugin 3.8.1" ;;
    *) "$GO" version ;;
  esac
}

recipe_hash() {
  local name=$1
  {
    case "$name" in
      kafka | jmx_exporter)
        declare -f "build_$name" mvn_run
        grep -E "^mirror_${name}_" "$PINS" | grep -v '_sha256:'
        ;;
      *)
        declare -f "build_$name" go_env go_install_bin minio_ldflags
        grep -E "^mirror_(${name}|go)_" "$PINS" | grep -v '_sha256:'
        ;;
    esac
    art_toolchain "$name"
    if [ -d "$MIRROR_SRC/$name" ]; then
      (cd "$MIRROR_SRC" && find "$name" -type f ! -path '*/target/*' -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    fi
  } | sha256sum | cut -c1-16
}

# --- toolchains --------------------------------------------------------------

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"

go_env() {
  export GOMODCACHE="$GO_DIR/mod" GOCACHE="$GO_DIR/build" GOPATH="$GO_DIR/path"
  export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-buildvcs=false" GOTELEMETRY=off
  mkdir -p "$GOMODCACHE" "$GOCACHE" "$GOPATH"
}

# go_install_bin WORK MODULE@VERSION LDFLAGS: `go install` into WORK/bin
go_install_bin() {
  local work=$1 modver=$2 ldflags=$3
  # shellcheck disable=SC2046
  GOBIN="$work/bin" nice -n 10 "$GO" install $(pin mirror_go_flags) -ldflags "$ldflags" "$modver"
}

mvn_run() { # quiet unless it fails; the log stays in the current (work) dir
  mkdir -p "$M2_DIR"
  if ! nice -n 10 mvn -B -ntp -Dstyle.color=never -Dmaven.repo.local="$M2_DIR" "$@" >mvn.log 2>&1; then
    tail -n 40 mvn.log >&2
    return 1
  fi
}

# --- build recipes: build_NAME OUT WORK (write the artifact to OUT) ----------

build_kafka() {
  local out=$1 work=$2 ver scala dist
  ver=$(pin mirror_kafka_version)
  scala=$(pin mirror_kafka_scala_version)
  cp "$MIRROR_SRC/kafka/pom.xml" "$work/pom.xml"
  (cd "$work" && mvn_run -Dkafka.version="$ver" -Dscala.binary.version="$scala" \
    -Dlog4j.version="$(pin mirror_kafka_log4j_version)" package)
  dist="$work/kafka_$scala-$ver"
  mkdir -p "$dist/libs" "$dist/bin" "$dist/config" "$dist/logs"
  cp "$work"/target/libs/*.jar "$dist/libs/"
  [ -f "$dist/libs/kafka_$scala-$ver.jar" ] || die "kafka_$scala-$ver.jar missing from the resolved jars"
  install -m 0755 "$MIRROR_SRC"/kafka/bin/*.sh "$dist/bin/"
  install -m 0644 "$MIRROR_SRC"/kafka/config/* "$dist/config/"
  {
    echo "Apache Kafka $ver (Scala $scala), assembled by groundwork.platform"
    echo "from Maven Central jars (mirror/kafka/pom.xml); bin/ and config/ are"
    echo "groundwork's own stand-ins for upstream's scripts and examples."
    echo
    echo "libs/:"
    (cd "$dist/libs" && ls -1)
  } >"$dist/GROUNDWORK-BUILD.txt"
  tar --sort=name --mtime="@$TAR_EPOCH" --owner=0 --group=0 --numeric-owner \
    -C "$work" -cf - "kafka_$scala-$ver" | gzip -n -6 >"$out"
}

build_jmx_exporter() {
  local out=$1 work=$2 ver
  ver=$(pin mirror_jmx_exporter_version)
  (cd "$work" && mvn_run org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="io.prometheus.jmx:jmx_prometheus_javaagent:$ver" -DoutputDirectory="$work/out")
  unzip -p "$work/out/jmx_prometheus_javaagent-$ver.jar" META-INF/MANIFEST.MF | grep -q '^Premain-Class:' ||
    die "jmx_prometheus_javaagent-$ver.jar has no Premain-Class: not a java agent"
  mv "$work/out/jmx_prometheus_javaagent-$ver.jar" "$out"
}

# MinIO and mc: ldflags set the variables that upstream's gen-ldflags.go sets.
# Version is the RFC 3339 time, ReleaseTag PREFIX.<time>, CommitID the commit.
minio_ldflags() { # PKG TAG COMMIT
  local pkg=$1 tag=$2 commit=$3 ts day clock
  ts=${tag#*.}        # 2026-02-12T20-18-48Z
  day=${ts%%T*}       # 2026-02-12
  clock=${ts#*T}      # 20-18-48Z
  printf '%s' "-s -w -X $pkg.Version=${day}T${clock//-/:} -X $pkg.ReleaseTag=$tag" \
    " -X $pkg.CommitID=$commit -X $pkg.ShortCommitID=${commit:0:12} -X $pkg.CopyrightYear=${day%%-*}"
}

build_minio() {
  local out=$1 work=$2
  go_env
  go_install_bin "$work" "github.com/minio/minio@$(pin mirror_minio_module_version)" \
    "$(minio_ldflags github.com/minio/minio/cmd "$(pin mirror_minio_version)" "$(pin mirror_minio_commit)")"
  mv "$work/bin/minio" "$out"
}

build_mc() {
  local out=$1 work=$2
  go_env
  go_install_bin "$work" "github.com/minio/mc@$(pin mirror_mc_module_version)" \
    "$(minio_ldflags github.com/minio/mc/cmd "$(pin mirror_mc_version)" "$(pin mirror_mc_commit)")"
  mv "$work/bin/mc" "$out"
}

build_openbao() {
  local out=$1 work=$2 modver key want have date v=github.com/openbao/openbao/version
  modver=$(pin mirror_openbao_module_version)
  # The wrapper's go.mod must require exactly the pinned versions.
  for key in "github.com/openbao/openbao $modver" \
    "github.com/openbao/openbao/api/v2 $(pin mirror_openbao_api_version)" \
    "github.com/openbao/openbao/sdk/v2 $(pin mirror_openbao_sdk_version)"; do
    want=${key##* }
    have=$(awk -v m="${key%% *}" '$1 == m { print $2; exit }' "$MIRROR_SRC/openbao/go.mod")
    [ "$have" = "$want" ] || die "mirror/openbao/go.mod requires ${key%% *} $have, versions.yml pins $want"
  done
  # Build date: the release commit's time (from the pseudo-version), reproducible.
  date=$(echo "$modver" | sed -E 's/^v0\.0\.0-([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})-.*/\1-\2-\3T\4:\5:\6Z/')
  go_env
  cp "$MIRROR_SRC/openbao/go.mod" "$MIRROR_SRC/openbao/go.sum" "$work/"
  # shellcheck disable=SC2046
  (cd "$work" && nice -n 10 "$GO" build $(pin mirror_go_flags) -o "$out" \
    -ldflags "-s -w -X $v.fullVersion=$(pin mirror_openbao_version) -X $v.GitCommit=$(pin mirror_openbao_commit) -X $v.BuildDate=$date" \
    github.com/openbao/openbao)
}

# Our own consumer-group lag exporter (the Go module proxy refuses
# github.com/danielqsj/kafka_exporter): the module in mirror/consumer_lag_exporter/,
# whose go.mod must require exactly the pinned versions.
build_consumer_lag_exporter() {
  local out=$1 work=$2 key want have src="$MIRROR_SRC/consumer_lag_exporter"
  for key in "github.com/IBM/sarama $(pin mirror_consumer_lag_exporter_sarama_version)" \
    "github.com/prometheus/client_golang $(pin mirror_consumer_lag_exporter_client_golang_version)" \
    "github.com/xdg-go/scram $(pin mirror_consumer_lag_exporter_scram_version)"; do
    want=${key##* }
    have=$(awk -v m="${key%% *}" '$1 == m { print $2; exit }' "$src/go.mod")
    [ "$have" = "$want" ] || die "mirror/consumer_lag_exporter/go.mod requires ${key%% *} $have, versions.yml pins $want"
  done
  go_env
  cp "$src/go.mod" "$src/go.sum" "$src"/*.go "$work/"
  # shellcheck disable=SC2046
  (cd "$work" && nice -n 10 "$GO" build $(pin mirror_go_flags) -o "$out" \
    -ldflags "-s -w -X main.version=$(pin mirror_consumer_lag_exporter_version)" .)
}

# --- state, index, SHA256SUMS ------------------------------------------------

# check_pinned NAME SHA256: an artifact whose bytes versions.yml pins (mirror_NAME_sha256, an
# expectation on the output, not part of the recipe) must have exactly those: the roles install
# only the pinned bytes, so a mirror cannot swap a binary.
check_pinned() {
  local want
  want=$(sed -nE "s/^mirror_$1_sha256:[[:space:]]*\"?([0-9a-f]{64})\"?.*/\1/p" "$PINS")
  [ -z "$want" ] || [ "$want" = "$2" ] || die "mirror: $1 has sha256 $2, versions.yml pins $want" \
    "(mirror_$1_sha256). The same recipe and toolchain give the same bytes; this one ran" \
    "'$(art_toolchain "$1")'. A new pin goes into versions.yml and the roles' copies together."
}

state_get() { # NAME KEY
  [ -f "$STATE_DIR/$1" ] || return 0
  sed -n "s/^$2=//p" "$STATE_DIR/$1"
}

is_current() {
  local name=$1 path
  path=$(art_path "$name")
  [ -f "$MIRROR_DIR/$path" ] &&
    [ "$(state_get "$name" recipe)" = "$(recipe_hash "$name")" ] &&
    [ "$(state_get "$name" path)" = "$path" ]
}

build_one() {
  local name=$1 path file dir work out t0 secs sum size
  path=$(art_path "$name")
  file=$(art_file "$name")
  dir="$MIRROR_DIR/$(dirname "$path")"
  log "mirror: building $name $(art_version "$name") -> $path"
  work=$(mktemp -d "${TMPDIR:-/tmp}/gw-mirror-$name.XXXXXX")
  BUILDING=$name WORK=$work
  out="$work/$file"
  t0=$(date +%s)
  # Not in an `||` list: that would switch `set -e` off inside the recipe.
  "build_$name" "$out" "$work"
  [ -s "$out" ] || die "mirror: $name produced no $file"
  secs=$(($(date +%s) - t0))
  case "$file" in *.tgz | *.jar) chmod 0644 "$out" ;; *) chmod 0755 "$out" ;; esac
  sum=$(sha256sum "$out" | cut -d' ' -f1)
  size=$(stat -c %s "$out")
  check_pinned "$name" "$sum"
  mkdir -p "$dir" "$STATE_DIR"
  mv -f "$out" "$dir/$file"
  echo "$sum  $file" >"$dir/$file.sha256"
  # Drop other versions of this artifact: the mirror holds the pinned ones.
  find "$MIRROR_DIR/$name" -mindepth 1 -maxdepth 1 -type d ! -name "$(art_version "$name")" -exec rm -rf {} +
  cat >"$STATE_DIR/$name.tmp" <<EOF
name=$name
version=$(art_version "$name")
path=$path
sha256=$sum
size=$size
recipe=$(recipe_hash "$name")
build_seconds=$secs
built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
  mv -f "$STATE_DIR/$name.tmp" "$STATE_DIR/$name"
  rm -rf "$work"
  BUILDING="" WORK=""
  log "mirror: $name built in ${secs}s ($((size / 1048576)) MiB, sha256 ${sum:0:16}...)"
}

write_index() {
  local name sep="" sums="$MIRROR_DIR/SHA256SUMS.tmp" idx="$MIRROR_DIR/index.json.tmp"
  : >"$sums"
  {
    printf '{\n  "schema": 1,\n  "artifacts": ['
    for name in "${ALL_ARTIFACTS[@]}"; do
      if [ ! -f "$STATE_DIR/$name" ] || [ ! -f "$MIRROR_DIR/$(state_get "$name" path)" ]; then continue; fi
      echo "$(state_get "$name" sha256)  $(state_get "$name" path)" >>"$sums"
      printf '%s\n    {"name": "%s", "version": "%s", "path": "%s", "sha256": "%s", "size": %s}' "$sep" \
        "$name" "$(state_get "$name" version)" "$(state_get "$name" path)" \
        "$(state_get "$name" sha256)" "$(state_get "$name" size)"
      sep=","
    done
    printf '\n  ]\n}\n'
  } >"$idx"
  mv -f "$sums" "$MIRROR_DIR/SHA256SUMS"
  mv -f "$idx" "$MIRROR_DIR/index.json"
}

# --- main --------------------------------------------------------------------

BUILDING="" WORK=""
on_exit() {
  local rc=$?
  [ -z "$WORK" ] || rm -rf "$WORK"
  [ $rc = 0 ] || [ -z "$BUILDING" ] || printf 'ERROR: mirror: building %s failed (exit %s)\n' "$BUILDING" "$rc" >&2
}
trap on_exit EXIT

FORCE=0
MODE=build
TARGETS=()
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --list) MODE=list ;;
    --verify) MODE=verify ;;
    --key) MODE=key ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg" ;;
    *) art_version "$arg" >/dev/null; TARGETS+=("$arg") ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_ARTIFACTS[@]}")

mkdir -p "$MIRROR_DIR"
case "$MODE" in
  list)
    for name in "${TARGETS[@]}"; do
      if is_current "$name"; then s=current; else s=stale; fi
      printf '%-21s %-34s %-7s %s\n' "$name" "$(art_version "$name")" "$s" "$(art_path "$name")"
    done
    exit 0
    ;;
  key)
    for name in "${TARGETS[@]}"; do echo "$name $(recipe_hash "$name")"; done | sha256sum | cut -c1-16
    exit 0
    ;;
  verify)
    [ -f "$MIRROR_DIR/SHA256SUMS" ] || die "no $MIRROR_DIR/SHA256SUMS: run $0 first"
    (cd "$MIRROR_DIR" && sha256sum --quiet -c SHA256SUMS) && log "mirror: all checksums OK"
    exit 0
    ;;
esac

# One build at a time (two would fight over the caches and the 2 cores).
exec 9>"$MIRROR_DIR/.lock"
flock -w 3600 9 || die "mirror: another build holds $MIRROR_DIR/.lock"

T0=$(date +%s)
built=0
for name in "${TARGETS[@]}"; do
  if [ $FORCE = 0 ] && is_current "$name"; then
    check_pinned "$name" "$(state_get "$name" sha256)"
    echo "current  $name $(art_version "$name")"
  else
    build_one "$name"
    built=$((built + 1))
  fi
done
if [ $built -gt 0 ] || [ ! -f "$MIRROR_DIR/index.json" ] || [ ! -f "$MIRROR_DIR/SHA256SUMS" ]; then
  write_index
fi
[ $built = 0 ] || log "mirror: $built artifact(s) built in $(($(date +%s) - T0))s; mirror at $MIRROR_DIR"
