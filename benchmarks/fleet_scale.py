#!/usr/bin/env python3
"""Converge and rerun time of the baseline every host gets (common + node_exporter) against the
number of hosts.

For each host count (default 10, 25, 50, 100) the script starts that many fresh light test hosts
(containers running systemd, `benchmarks/fleet/hosts.yml`, on the docker network
groundwork-fleet that it creates), runs `playbooks/site.yml` on them once (converge) and RERUNS
more times (idempotent reruns, which must report changed=0), and removes them again. Only these
hosts are touched. Every run uses the settings the README recommends for many hosts: Mitogen's
mitogen_linear strategy, pipelining, `gathering = smart` with a jsonfile fact cache
(build/fleet/facts, emptied before each converge) and FORKS forks.

    .venv/bin/python benchmarks/fleet_scale.py [--counts 10,25,50,100] [--reruns 2] [--forks 25]
    .venv/bin/python benchmarks/fleet_scale.py --plot docs/fleet-scale.png   # from the JSON
    .venv/bin/python benchmarks/fleet_scale.py --serial-drill 100 --batch 10  # on kept hosts
    .venv/bin/python benchmarks/fleet_scale.py --compare-reruns 100 --other ../other-tree  # kept hosts

Writes build/benchmarks/fleet_scale.json: per count the wall times, the recap summed over the
hosts and every task's wall time (ansible.posix.profile_tasks), so that a task whose time grows
faster than the host count shows up (`--growth` prints the tasks ordered by their time at the
largest count over their time at the smallest, divided by the host-count ratio).
"""
import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "fleet"
RESULT = ROOT / "build" / "benchmarks" / "fleet_scale.json"
NETWORK = "groundwork-fleet"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
# profile_tasks pads the name with dashes to the terminal width: a long name with a long time
# leaves one dash or none
TASK = re.compile(r"^(.+?) -* ?(\d+\.\d+)s$", re.M)
VENV_BIN = ROOT / ".venv" / "bin"


def tool(name):
    return str(VENV_BIN / name) if (VENV_BIN / name).exists() else name


def inventory(count):
    """The fleet inventory: COUNT hosts, reached through the docker engine as the lab's are."""
    hosts = "".join(f"        fleet-{i:03d}:\n" for i in range(1, count + 1))
    text = f"""---
# written by benchmarks/fleet_scale.py
all:
  vars:
    ansible_connection: docker
    ansible_user: root
    ansible_python_interpreter: /usr/bin/python3
    common_apt_proxy: "http://{{{{ ansible_facts.default_ipv4.gateway }}}}:3142"
    groundwork_mirror_url: "http://{{{{ ansible_facts.default_ipv4.gateway }}}}:8480"
  children:
    fleet:
      hosts:
{hosts}"""
    BUILD.mkdir(parents=True, exist_ok=True)
    path = BUILD / f"hosts-{count}.yml"
    path.write_text(text)
    return path


def strategy_env():
    import ansible_mitogen  # pylint: disable=import-outside-toplevel (only for Mitogen's strategy)
    return {"ANSIBLE_STRATEGY": "mitogen_linear",
            "ANSIBLE_STRATEGY_PLUGINS": os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy")}


def playbook(inv, args, forks, extra_env=None, timeout=3600, root=ROOT):
    """ansible-playbook from the tree ROOT (its ansible.cfg and the collection linked under its
    build/collections)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(root / "build" / "collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_FORKS=str(forks), ANSIBLE_CACHE_PLUGIN="jsonfile",
               ANSIBLE_CACHE_PLUGIN_CONNECTION=str(BUILD / "facts"), ANSIBLE_CACHE_PLUGIN_TIMEOUT="86400",
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="all",
               PROFILE_TASKS_SORT_ORDER="none", **(extra_env or {}))
    start, cpu = time.monotonic(), _children_cpu()
    run = subprocess.run([tool("ansible-playbook"), "-i", str(inv), *args], cwd=root, env=env,
                         capture_output=True, text=True, timeout=timeout, check=False)
    run.controller_cpu = round(_children_cpu() - cpu, 1)
    return run, round(time.monotonic() - start, 1)


def _children_cpu():
    """CPU seconds (user + system) of the finished child processes: ansible-playbook and every
    process it forked on the controller (the hosts' own work runs in their containers)."""
    import resource  # pylint: disable=import-outside-toplevel
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def recap(stdout):
    totals = {"hosts": 0, "ok": 0, "changed": 0, "unreachable": 0, "failed": 0, "skipped": 0}
    for _host, *values in RECAP.findall(stdout):
        totals["hosts"] += 1
        for key, value in zip(("ok", "changed", "unreachable", "failed", "skipped"), values):
            totals[key] += int(value)
    return totals


def tasks(stdout):
    """profile_tasks' summary: task name -> wall seconds (summed when a name repeats)."""
    summary = stdout.rsplit("=" * 20, 1)[-1] if "=" * 20 in stdout else stdout
    times = {}
    for name, seconds in TASK.findall(summary):
        times[name.strip()] = round(times.get(name.strip(), 0.0) + float(seconds), 2)
    return times


def remove_fleet():
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=groundwork.test-host={NETWORK}"],
                         capture_output=True, text=True, check=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=True)
    subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True, check=False)


def kernel_limits(count):
    """systemd in each container holds several inotify instances, all counted against root's
    fs.inotify.max_user_instances (128 on Debian): beyond about 25 containers, new ones exit at
    boot. Raised here (this machine only, until reboot) to 16 per host, and said so."""
    path = pathlib.Path("/proc/sys/fs/inotify/max_user_instances")
    wanted = 16 * count + 128
    if int(path.read_text()) < wanted:
        print(f"raising fs.inotify.max_user_instances from {path.read_text().strip()} to {wanted}", flush=True)
        path.write_text(str(wanted))


def one_count(count, reruns, forks):
    remove_fleet()
    kernel_limits(count)
    inv = inventory(count)
    started = time.monotonic()
    run, _ = playbook(inv, ["benchmarks/fleet/hosts.yml"], forks)
    if run.returncode != 0:
        sys.exit(f"creating {count} hosts failed:\n{run.stdout[-3000:]}")
    create_s = round(time.monotonic() - started, 1)
    for cached in (BUILD / "facts").glob("*"):
        cached.unlink()
    result = {"hosts": count, "forks": forks, "create_seconds": create_s, "runs": []}
    for kind in ["converge"] + ["rerun"] * reruns:
        run, seconds = playbook(inv, ["playbooks/site.yml"], forks, strategy_env())
        totals = recap(run.stdout)
        result["runs"].append({"kind": kind, "seconds": seconds, "controller_cpu_seconds": run.controller_cpu,
                               "rc": run.returncode, "recap": totals, "tasks": tasks(run.stdout)})
        print(json.dumps({"hosts": count, "kind": kind, "seconds": seconds, "controller_cpu_seconds": run.controller_cpu,
                          "rc": run.returncode, "recap": totals}), flush=True)
        if run.returncode != 0:
            sys.exit(f"site.yml on {count} hosts failed:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}")
    reruns_s = [r["seconds"] for r in result["runs"] if r["kind"] == "rerun"]
    result["converge_seconds"] = result["runs"][0]["seconds"]
    result["rerun_seconds_median"] = statistics.median(reruns_s) if reruns_s else None
    result["rerun_changed"] = [r["recap"]["changed"] for r in result["runs"] if r["kind"] == "rerun"]
    return result


def docker_exec(name, *argv):
    return subprocess.run(["docker", "exec", name, *argv], capture_output=True, text=True, check=False)


def serial_drill(count, batch, forks):
    """A bad change rolled out in batches stops after the first one.

    On COUNT converged fleet hosts (left by a run with --keep): site.yml's node_exporter play
    with a listen address that is not the hosts' own (the fleet network's gateway, this machine:
    an address pasted from the wrong place), BATCH hosts per batch and no failure allowed. The
    exporter's flags pass their check (it runs on a scratch address), but the restarted exporter
    cannot bind; its endpoint wait (the health gate) is refused at once on the whole first batch,
    and the play stops there. Then the same run without the bad address repairs the first batch
    and changes nothing elsewhere."""
    inv = BUILD / f"hosts-{count}.yml"
    names = [f"fleet-{i:03d}" for i in range(1, count + 1)]
    gateway = subprocess.run(["docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", NETWORK],
                             capture_output=True, text=True, check=True).stdout.strip()
    bad, seconds = playbook(inv, ["playbooks/site.yml", "--tags", "node_exporter", "-e", f"groundwork_serial={batch}",
                                  "-e", "groundwork_max_fail_percentage=0", "-e", f"node_exporter_listen_address={gateway}"],
                            forks, strategy_env())
    with_bad = [n for n in names if f"{gateway}:" in docker_exec(n, "cat", "/etc/default/prometheus-node-exporter").stdout]
    running = [n for n in names if docker_exec(n, "systemctl", "is-active", "prometheus-node-exporter").stdout.strip() == "active"]
    fixed, fix_seconds = playbook(inv, ["playbooks/site.yml", "--tags", "node_exporter", "-e", f"groundwork_serial={batch}",
                                        "-e", "groundwork_max_fail_percentage=0"], forks, strategy_env())
    after_fix = recap(fixed.stdout)
    changed_hosts = sorted(h for h, _ok, changed, *_ in RECAP.findall(fixed.stdout) if int(changed) > 0)
    result = {"hosts": count, "batch": batch,
              "bad_run": {"rc": bad.returncode, "seconds": seconds, "recap": recap(bad.stdout),
                          "hosts_with_the_bad_address": with_bad, "exporters_running": len(running),
                          "stopped_message": "NO MORE HOSTS LEFT" in bad.stdout},
              "repair_run": {"rc": fixed.returncode, "seconds": fix_seconds, "recap": after_fix, "changed_hosts": changed_hosts}}
    print(json.dumps(result, indent=1))
    return result


def hosts_cpu():
    """CPU seconds the fleet containers have used so far (cgroup v1 cpuacct, docker's cgroupfs
    driver; None where the machine has another layout)."""
    ids = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", f"label=groundwork.test-host={NETWORK}"],
                         capture_output=True, text=True, check=True).stdout.split()
    total = 0
    for cid in ids:
        path = pathlib.Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
        if not path.exists():
            return None
        total += int(path.read_text())
    return total / 1e9


def compare_reruns(count, rounds, other, forks):
    """Reruns of site.yml on COUNT kept hosts, alternating this tree and the tree OTHER (a git
    worktree of another commit, with its own build/collections link), ROUNDS times each."""
    inv = BUILD / f"hosts-{count}.yml"
    runs = {str(ROOT): [], str(other): []}
    for _ in range(rounds):
        for root in (ROOT, other):
            before = hosts_cpu()
            run, seconds = playbook(inv, ["playbooks/site.yml"], forks, strategy_env(), root=root)
            after = hosts_cpu()
            row = {"seconds": seconds, "controller_cpu_seconds": run.controller_cpu,
                   "hosts_cpu_seconds": round(after - before, 1) if before is not None and after is not None else None,
                   "rc": run.returncode,
                   "recap": recap(run.stdout), "etc_hosts_tasks": {k: v for k, v in tasks(run.stdout).items() if "/etc/hosts" in k}}
            runs[str(root)].append(row)
            print(json.dumps({"tree": str(root), **row}), flush=True)
    summary = {tree: {"seconds_median": statistics.median(r["seconds"] for r in rows),
                      "controller_cpu_median": statistics.median(r["controller_cpu_seconds"] for r in rows),
                      "hosts_cpu_median": statistics.median(r["hosts_cpu_seconds"] or 0 for r in rows),
                      "changed": [r["recap"]["changed"] for r in rows]} for tree, rows in runs.items()}
    return {"hosts": count, "forks": forks, "rounds": rounds, "runs": runs, "summary": summary}


def growth(data):
    """Tasks ordered by how much faster than the host count their time grew (rerun tasks)."""
    first, last = data["counts"][0], data["counts"][-1]
    scale = last["hosts"] / first["hosts"]
    small = first["runs"][-1]["tasks"]
    large = last["runs"][-1]["tasks"]
    rows = []
    for name, seconds in large.items():
        if name in small and small[name] > 0:
            rows.append((round(seconds / small[name] / scale, 2), name, small[name], seconds))
    return sorted(rows, reverse=True)


def plot(data, path):
    import matplotlib  # pylint: disable=import-outside-toplevel (only for --plot: benchmarks/requirements.txt)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    counts = [c["hosts"] for c in data["counts"]]
    converge = [c["converge_seconds"] for c in data["counts"]]
    rerun = [c["rerun_seconds_median"] for c in data["counts"]]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.plot(counts, converge, "o-", label="converge (fresh hosts)")
    ax.plot(counts, rerun, "s-", label="idempotent rerun (median)")
    per_host = rerun[0] / counts[0]
    ax.plot(counts, [per_host * c for c in counts], ":", color="grey", label=f"rerun linear from {counts[0]} hosts")
    ax.plot(counts, [2 * rerun[0]] * len(counts), "--", color="tab:red", linewidth=0.8, label=f"aim: 2x the rerun on {counts[0]}")
    # reruns of a later tree on the same hosts (--compare-reruns), added to the JSON under "after"
    for label, points in data.get("after", {}).items():
        ax.plot([p["hosts"] for p in points], [p["seconds"] for p in points], "D--", color="tab:green", label=label)
        for p in points:
            ax.annotate(f"{p['seconds']:.0f}s", (p["hosts"], p["seconds"]), textcoords="offset points", xytext=(12, -4),
                        fontsize=8, color="tab:green")
    for c, v in zip(counts, converge):
        ax.annotate(f"{v:.0f}s", (c, v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    for c, v in zip(counts, rerun):
        ax.annotate(f"{v:.0f}s", (c, v), textcoords="offset points", xytext=(0, -13), ha="center", fontsize=8)
    ax.set_xlabel("hosts (containers with systemd on one 2-core machine)")
    ax.set_ylabel("wall seconds")
    ax.set_title(f"site.yml (common + node_exporter), {data['counts'][0]['forks']} forks, mitogen_linear")
    ax.set_xticks(counts)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="10,25,50,100")
    parser.add_argument("--reruns", type=int, default=2)
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--keep", action="store_true", help="leave the last count's hosts running")
    parser.add_argument("--plot", metavar="PNG", help="only plot build/benchmarks/fleet_scale.json")
    parser.add_argument("--growth", action="store_true", help="only print the tasks' growth from the JSON")
    parser.add_argument("--serial-drill", metavar="HOSTS", type=int,
                        help="only the batch drill on HOSTS kept hosts (a run with --keep left them converged)")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--compare-reruns", metavar="HOSTS", type=int,
                        help="only reruns on HOSTS kept hosts, alternating this tree and --other")
    parser.add_argument("--other", type=pathlib.Path, help="another tree for --compare-reruns")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.compare_reruns:
        result = compare_reruns(args.compare_reruns, args.rounds, args.other.resolve(), args.forks)
        RESULT.with_name("fleet_compare_reruns.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result["summary"], indent=1))
        return
    if args.serial_drill:
        result = serial_drill(args.serial_drill, args.batch, args.forks)
        RESULT.with_name("fleet_serial_drill.json").write_text(json.dumps(result, indent=1))
        return
    if args.plot or args.growth:
        data = json.loads(RESULT.read_text())
        if args.growth:
            for ratio, name, small, large in growth(data)[:25]:
                print(f"{ratio:6.2f}  {small:7.2f}s -> {large:7.2f}s  {name}")
        if args.plot:
            plot(data, args.plot)
        return
    data = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "counts": []}
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    try:
        for count in [int(c) for c in args.counts.split(",")]:
            data["counts"].append(one_count(count, args.reruns, args.forks))
            RESULT.write_text(json.dumps(data, indent=1))
    finally:
        if not args.keep:
            remove_fleet()
    data["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    RESULT.write_text(json.dumps(data, indent=1))
    for c in data["counts"]:
        print(f"{c['hosts']:4d} hosts: converge {c['converge_seconds']:7.1f}s  rerun median {c['rerun_seconds_median']:7.1f}s "
              f"(changed {c['rerun_changed']})")


if __name__ == "__main__":
    main()
