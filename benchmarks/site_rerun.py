#!/usr/bin/env python3
"""How long `site.yml` takes on the converged lab, and that it changes nothing.

Run after `make lab` (the lab converged once). Runs `ansible-playbook -i inventories/lab
playbooks/site.yml` RUNS rounds (default 3), each round once per strategy given (default:
mitogen_linear, the one `make lab` uses, then Ansible's own linear), side by side, with the
project's ansible.cfg. For each run it records the wall time, the recap summed over all hosts
(ok, changed, skipped, failed), the tasks that reported a change and the ten slowest tasks
(ansible.posix.profile_tasks). Prints JSON with the median per strategy and writes it to
build/benchmarks/site_rerun.json.
    python3 benchmarks/site_rerun.py [RUNS] [STRATEGY ...]
The runs touch only the lab's own test hosts."""
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
SLOW = re.compile(r"^(.+?) -{3,} (\d+\.\d+)s$", re.M)


def strategy_env(strategy):
    if strategy == "linear":
        return {"ANSIBLE_STRATEGY": "linear"}
    import ansible_mitogen  # pylint: disable=import-outside-toplevel (only for Mitogen's strategies)
    return {"ANSIBLE_STRATEGY": strategy,
            "ANSIBLE_STRATEGY_PLUGINS": os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy")}


def one_run(strategy, exit_on_failure=True):
    env = dict(os.environ, **strategy_env(strategy), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="10",
               PROFILE_TASKS_SUMMARY_ONLY="true")
    venv_bin = ROOT / ".venv" / "bin"
    playbook = str(venv_bin / "ansible-playbook") if (venv_bin / "ansible-playbook").exists() else "ansible-playbook"
    start = time.monotonic()
    run = subprocess.run([playbook, "-i", "inventories/lab", "playbooks/site.yml"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1800, check=False)
    seconds = time.monotonic() - start
    if run.returncode != 0 and exit_on_failure:
        sys.exit(f"site.yml failed (rc {run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}")
    totals = {"ok": 0, "changed": 0, "unreachable": 0, "failed": 0, "skipped": 0}
    hosts = {}
    for host, ok, changed, unreachable, failed, skipped in RECAP.findall(run.stdout):
        hosts[host] = {"ok": int(ok), "changed": int(changed), "skipped": int(skipped)}
        for key, value in zip(totals, (ok, changed, unreachable, failed, skipped)):
            totals[key] += int(value)
    slowest = [{"task": t.strip(), "seconds": float(s)} for t, s in SLOW.findall(run.stdout)][:10]
    changed_tasks, task = set(), None
    for line in run.stdout.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith("changed: [") and task:
            changed_tasks.add(task)
    return {"strategy": strategy, "rc": run.returncode, "seconds": round(seconds, 1), "totals": totals, "hosts": hosts,
            "slowest": slowest, "changed_tasks": sorted(changed_tasks), "tail": run.stdout[-1500:] if run.returncode else ""}


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    strategies = sys.argv[2:] or ["mitogen_linear", "linear"]
    results = [one_run(strategy) for _ in range(rounds) for strategy in strategies]
    report = {
        "command": "python3 benchmarks/site_rerun.py " + " ".join(sys.argv[1:]),
        "runs": results,
        "median_seconds": {s: statistics.median(r["seconds"] for r in results if r["strategy"] == s) for s in strategies},
        "changed_total": sum(r["totals"]["changed"] for r in results),
    }
    out = ROOT / "build" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "site_rerun.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
