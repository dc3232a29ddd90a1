#!/usr/bin/env bash
# The project's test runner: `make test` (every stage) or `scripts/test.sh STAGE [ARG]`.
# Stages: lint sanity unit build integration mirror molecule (the others beside molecule
# when both run: see the end of this file). Prints each stage's duration
# and ends with one summary line; exits non-zero if any stage failed.
source "$(dirname "$0")/lib.sh"
cd "$GW_ROOT"
use_project_env
export PY_COLORS=0 ANSIBLE_NOCOLOR=1 NO_COLOR=1

ALL_STAGES=(lint sanity unit build integration mirror molecule)
stages=("$@"); [ ${#stages[@]} -gt 0 ] || stages=("${ALL_STAGES[@]}")
only_scenario=""
if [ "${stages[0]}" = molecule ] && [ ${#stages[@]} -gt 1 ]; then only_scenario=${stages[1]}; stages=(molecule); fi

stage_lint() {
  # a copy of this collection that a tool installed under ~/.ansible would shadow the tree
  rm -rf "$HOME/.ansible/collections/ansible_collections/groundwork/platform" "$GW_ROOT/.ansible/collections"
  yamllint -s . && ansible-lint --offline -q
}

stage_sanity() {
  # ansible-test wants the collection at ansible_collections/NS/NAME and, offline, a
  # stand-in for the pip bootstrap script it would otherwise download.
  # (outside this git work tree: ansible-test would list only the files git tracks there;
  # one directory per checkout, so that two checkouts' runs do not remove each other's copy)
  local base="$GW_CACHE/sanity/$(printf %s "$GW_ROOT" | sha256sum | cut -c1-12)"
  local dest="$base/ansible_collections/groundwork/platform"
  rm -rf "$base"; mkdir -p "$dest"
  # the collection's content; the repository's own tooling (scripts, benchmarks, molecule
  # scenarios, mirror recipes) is not shipped and is checked by lint and its own runs instead
  git ls-files -co --exclude-standard -z \
    | grep -zvE '^(scripts|benchmarks|molecule|mirror|wip|\.ci|tests/promtool)/' \
    | tar --null -T - -cf - | tar -C "$dest" -xf -
  mkdir -p ~/.ansible/test/cache
  cat >~/.ansible/test/cache/get_pip_24_2.py <<'PY'
import subprocess, sys
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY
  (cd "$dest" && ansible-test sanity --requirements --python "$(python3 -c 'import sys;print("%d.%d"%sys.version_info[:2])')" --color no) \
    2>&1 | tee "$GW_ROOT/build/sanity.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || return 1
  # a run that tested nothing is a failure, not a pass
  ! grep -q "All targets skipped" "$GW_ROOT/build/sanity.log"
}

stage_unit() {
  bash scripts/controller-deps.sh
  pytest -p no:cacheprovider -q tests/unit
  bash tests/promtool/run.sh
}

stage_integration() {
  [ -d tests/integration/modules ] || { echo "no integration tests"; return 0; }
  bash scripts/controller-deps.sh
  pytest -p no:cacheprovider -q tests/integration/modules tests/integration/preflight
}

stage_build() {
  # Build the collection, install the tarball offline into a fresh path, and use it.
  local out="$GW_ROOT/build/dist" cp="$GW_ROOT/build/installed"
  rm -rf "$out" "$cp"; mkdir -p "$out" "$cp"
  ansible-galaxy collection build --force --output-path "$out" .
  ANSIBLE_COLLECTIONS_PATH="$cp" ansible-galaxy collection install --force --offline --no-deps -p "$cp" "$out"/groundwork-platform-*.tar.gz
  ANSIBLE_COLLECTIONS_PATH="$cp" ansible-doc -t role groundwork.platform.common | grep -q "common_private_address"
  ANSIBLE_COLLECTIONS_PATH="$cp" ansible-doc -t role -l groundwork.platform | grep -q node_exporter
  ANSIBLE_COLLECTIONS_PATH="$cp" ansible-playbook --syntax-check -i inventories/lab groundwork.platform.site
  for m in plugins/modules/*.py; do
    [ -e "$m" ] || continue
    # ansible-doc exits 0 on a module it cannot load: look for the rendered doc
    ANSIBLE_COLLECTIONS_PATH="$cp" ansible-doc -t module "groundwork.platform.$(basename "$m" .py)" 2>&1 \
      | grep -q "^> MODULE groundwork.platform.$(basename "$m" .py)" || { echo "ansible-doc cannot render $m"; return 1; }
  done
  # the tarball as ansible-builder sees it: introspect and a rendered build context
  pytest -p no:cacheprovider -q tests/ee
}

stage_mirror() {
  bash scripts/mirror/build.sh && bash tests/mirror/smoke.sh
}

# Seconds each scenario took in the last two-lane run on this 2-core VM (Mitogen, the other
# stages beside the lanes): the molecule stage spreads scenarios over GW_MOLECULE_LANES lanes
# (default 2) that run side by side, longest first, each scenario into the lane with the least
# work so far (an unknown scenario counts 300). Every test waits for conditions with bounded
# polls, never for a fixed window, so that the load of the other lane slows the tests down
# without failing them; GW_MOLECULE_LANES=1 runs the scenarios one after another. Scenarios
# share nothing but the engine, the apt cache and the mirror: each has its own hosts and network.
declare -A SCENARIO_SECONDS=([postgresql_cluster]=1147 [kafka]=460 [etcd]=300 [redis]=582 [postgresql]=487 [monitoring]=397
  [vault]=470 [minio]=259 [haproxy]=271 [redis_single]=233 [baseline]=96 [duckdb]=108 [nvidia_gpu]=95)

# One scenario; its output goes to build/molecule/NAME.log. With one lane it is also shown as it
# comes (a run cut short still shows where it stopped); with lanes it is printed whole when the
# scenario ends, so that the output of lanes running side by side does not interleave.
run_scenario() {
  local s=$1 t0=$SECONDS rc r out="$GW_ROOT/build/molecule/$1.log"
  log "molecule test -s $s"
  if [ "$GW_LANES" -eq 1 ]; then
    molecule test -s "$s" 2>&1 | tee "$out"; rc=${PIPESTATUS[0]}
  else
    molecule test -s "$s" >"$out" 2>&1 && rc=0 || rc=$?
  fi
  if [ "$rc" -eq 0 ]; then r=passed; else r=FAILED; fi
  (
    flock 9
    [ "$GW_LANES" -eq 1 ] || { echo "===== molecule test -s $s ($r) ====="; cat "$out"; }
    printf 'scenario %-20s %s in %4ds\n' "$s" "$r" $((SECONDS - t0)) | tee -a "$GW_ROOT/build/molecule-summary.txt"
  ) 9>"$GW_ROOT/build/molecule/.print.lock"
  return "$rc"
}

run_lane() {
  local failed=0 s
  for s in "$@"; do run_scenario "$s" || failed=1; done
  return $failed
}

stage_molecule() {
  local failed=0 s i best lanes=${GW_MOLECULE_LANES:-2}
  [[ "$lanes" =~ ^[1-9]$ ]] || die "GW_MOLECULE_LANES must be 1-9, got '$lanes'"
  GW_LANES=$lanes
  # scenarios that install from the artifact mirror (minio) reach it on the docker gateway;
  # build is a no-op when every artifact is current
  bash scripts/mirror/build.sh && bash scripts/mirror/serve.sh start
  bash scripts/controller-deps.sh
  # converge, idempotence and the tests' playbooks run under Mitogen's linear strategy, as
  # `make lab` does (use_mitogen in lib.sh); GW_MOLECULE_MITOGEN=0 keeps Ansible's linear, and a
  # scenario that sets ANSIBLE_STRATEGY: linear in its provisioner.env (baseline) keeps it too
  if [ "${GW_MOLECULE_MITOGEN:-1}" = 1 ]; then use_mitogen; fi
  rm -rf build/molecule; mkdir -p build/molecule
  local scenarios=(${only_scenario:-$(ls -d molecule/*/molecule.yml | cut -d/ -f2)})
  # longest first, each into the lane with the least seconds so far
  local -a lane_list lane_load pids
  for ((i = 0; i < lanes; i++)); do lane_list[i]=""; lane_load[i]=0; done
  for s in $(for s in "${scenarios[@]}"; do echo "${SCENARIO_SECONDS[$s]:-300} $s"; done | sort -k1,1nr -k2 | cut -d' ' -f2); do
    best=0
    for ((i = 1; i < lanes; i++)); do [ "${lane_load[i]}" -lt "${lane_load[best]}" ] && best=$i; done
    lane_list[best]+=" $s"
    lane_load[best]=$((lane_load[best] + ${SCENARIO_SECONDS[$s]:-300}))
  done
  for ((i = 0; i < lanes; i++)); do
    [ -n "${lane_list[i]}" ] || continue
    log "molecule lane $((i + 1)) (~$((lane_load[i] / 60)) min):${lane_list[i]}"
    # shellcheck disable=SC2086
    run_lane ${lane_list[i]} &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || failed=1; done
  return $failed
}

# One stage in its own subshell, not in a tested context, so that `set -e` holds inside it.
# With `capture`, its output goes to build/stages/NAME.log and is printed whole when it ends
# (a stage that runs beside the molecule lanes). Its line goes to build/stage-summary.txt, which
# is where the result is read from: call it untested (no `||`), or `set -e` would not hold inside.
run_stage() {
  local st=$1 t0=$SECONDS rc r out="$GW_ROOT/build/stages/$1.log"
  log "stage $st"
  if [ "${2:-}" = capture ]; then
    ( set -e; "stage_$st" ) >"$out" 2>&1 & wait $! && rc=0 || rc=$?
  else
    ( set -e; "stage_$st" ) & wait $! && rc=0 || rc=$?
  fi
  if [ "$rc" -eq 0 ]; then r=passed; else r=FAILED; fi
  (
    flock 9
    [ "${2:-}" != capture ] || { echo "===== stage $st ($r) ====="; cat "$out"; }
    printf '%-12s %-7s %5ds\n' "$st" "$r" $((SECONDS - t0)) >>"$GW_ROOT/build/stage-summary.txt"
  ) 9>"$GW_ROOT/build/stages/.print.lock"
}

for st in "${stages[@]}"; do
  declare -F "stage_$st" >/dev/null || die "unknown stage '$st' (stages: ${ALL_STAGES[*]})"
done
mkdir -p build/stages; rm -f build/stages/*.log; : >build/molecule-summary.txt; : >build/stage-summary.txt
t_all=$SECONDS
others=(); for st in "${stages[@]}"; do [ "$st" = molecule ] || others+=("$st"); done
if [ ${#others[@]} -lt ${#stages[@]} ] && [ ${#others[@]} -gt 0 ] && [ "${GW_STAGES_BESIDE_MOLECULE:-1}" = 1 ]; then
  # The other stages run one after another beside the molecule lanes: each takes one core at
  # most and integration mostly waits, so on two cores they fit in the lanes' gaps (the
  # molecule tests wait for conditions, never for fixed windows). The apt packages and the
  # mirror they share are installed and built first, once. GW_STAGES_BESIDE_MOLECULE=0 runs
  # every stage one after another.
  bash scripts/controller-deps.sh
  bash scripts/mirror/build.sh
  run_stage molecule & molecule_pid=$!
  for st in "${others[@]}"; do run_stage "$st" capture; done
  wait "$molecule_pid" || true
else
  for st in "${stages[@]}"; do run_stage "$st"; done
fi
failed=$(grep -c ' FAILED ' build/stage-summary.txt || true)
echo
echo "== stage durations =="
cat build/stage-summary.txt
[ -s build/molecule-summary.txt ] && cat build/molecule-summary.txt
# a failure's reason again at the very end, where a reader of only the output's tail sees it:
# the failed tasks and tests of each failed stage and scenario, then its last lines
why() {
  echo "== why $1 failed ($2) =="
  grep -E '^(fatal|failed):|^FAILED |^E  +|ERROR' "$2" | grep -v 'FAILED - RETRYING' | cut -c1-400 | tail -n 30 || true
  echo "-- its last lines --"
  tail -n 25 "$2" | cut -c1-400
}
for st in $(awk '$2 == "FAILED" {print $1}' build/stage-summary.txt); do
  [ "$st" = molecule ] || [ ! -s "build/stages/$st.log" ] || why "stage $st" "build/stages/$st.log"
done
for s in $(awk '$1 == "scenario" && $3 == "FAILED" {print $2}' build/molecule-summary.txt 2>/dev/null); do
  [ ! -s "build/molecule/$s.log" ] || why "scenario $s" "build/molecule/$s.log"
done
echo "stages: $(( ${#stages[@]} - failed )) passed, $failed failed, $((SECONDS - t_all)) s in all"
[ "$failed" -eq 0 ]
