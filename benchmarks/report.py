#!/usr/bin/env python3
"""`make report`: the drill's results (build/benchmarks/drill.json, written by benchmarks/drill.py
on the lab) as docs/platform-report.md with PNG plots under docs/report/:
  timeline.png  every tier's latency (successes) and failures on one time axis, the chaos events
                marked, and the alerts Prometheus fired on the same axis
  recovery.png  per event, the seconds each tier needed until its operations succeeded again
and the tables of recoveries, failed operations, lost acknowledged writes, rejoins and alerts.

    .venv/bin/python benchmarks/report.py [--input build/benchmarks/drill.json] [--baseline FILE]
--baseline adds a before/after table from a second drill file (the same events under other
settings). Needs matplotlib (benchmarks/requirements.txt). Writes nothing but the report.
"""
import argparse
import gzip
import json
import pathlib
import statistics
import sys
import time

import matplotlib

from drill import outcome

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
IMAGES = DOCS / "report"
COLORS = {"postgresql": "#336791", "redis": "#d82c20", "redis_defaults": "#f08080", "http": "#2e8b57", "minio": "#c72c48", "kafka": "#444444",
          "workload": "#8a2be2"}
SEVERITY = {"critical": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4"}


def minutes(t):
    return t / 60.0


def mark_events(ax, events, labels=False):
    for i, e in enumerate(events):
        ax.axvspan(minutes(e["t0"]), minutes(e["t_repair"]), color="#f4cccc", alpha=0.5, lw=0)
        ax.axvline(minutes(e["t_whole"]), color="#999999", lw=0.6, ls=":")
        if labels:
            ax.text(minutes(e["t0"]), 1.02, f"{i + 1}", transform=ax.get_xaxis_transform(), fontsize=7, ha="left", va="bottom")


def timeline(data, path):
    tiers = list(data["tiers"])
    alerts = sorted(data["alerts"], key=lambda a: min(i[0] for i in a["intervals"]))
    heights = [2] * len(tiers) + [max(1.5, 0.18 * len(alerts))]
    fig, axes = plt.subplots(len(tiers) + 1, 1, sharex=True, figsize=(13, 2.2 * len(tiers) + 2 + 0.18 * len(alerts)),
                             gridspec_kw={"height_ratios": heights})
    for i, (ax, name) in enumerate(zip(axes, tiers)):
        samples = data["tiers"][name]["samples"]
        ok = [s for s in samples if s[2]]
        bad = [s for s in samples if not s[2]]
        ax.scatter([minutes(s[0]) for s in ok], [max(s[1], 1e-4) * 1000 for s in ok], s=2, color=COLORS.get(name, "k"), lw=0)
        top = max([s[1] * 1000 for s in samples] + [10])
        ax.scatter([minutes(s[0]) for s in bad], [max(s[1] * 1000, 0.2) for s in bad], s=14, marker="x", color="red", lw=0.8)
        ax.set_yscale("log")
        ax.set_ylim(0.2, top * 2)
        ax.set_ylabel(f"{name}\nms", fontsize=8)
        # availability: share of operations that succeeded, per 10 s
        bins = {}
        for s in samples:
            b = int(s[0] // 10)
            good, total = bins.get(b, (0, 0))
            bins[b] = (good + (1 if s[2] else 0), total + 1)
        twin = ax.twinx()
        xs = sorted(bins)
        twin.plot([minutes(b * 10 + 5) for b in xs], [100.0 * bins[b][0] / bins[b][1] for b in xs], color="#555555", lw=0.7)
        twin.set_ylim(-5, 105)
        twin.set_ylabel("% ok / 10 s", fontsize=7)
        twin.tick_params(labelsize=7)
        ax.tick_params(labelsize=7)
        mark_events(ax, data["events"], labels=(i == 0))
    ax = axes[-1]
    for row, a in enumerate(alerts):
        color = SEVERITY.get(a["severity"], "#7f7f7f")
        for start, end in a["intervals"]:
            ax.barh(row, max(minutes(end - start), 0.05), left=minutes(start), height=0.6, color=color)
    ax.set_yticks(range(len(alerts)))
    ax.set_yticklabels([alert_name(a) for a in alerts], fontsize=6)
    ax.invert_yaxis()
    ax.set_ylabel("alerts\nfiring", fontsize=8)
    mark_events(ax, data["events"])
    ax.set_xlabel("minutes since the drill started (shaded: a break until its repair; dotted: platform whole again; "
                  "red x: a failed operation)", fontsize=8)
    fig.suptitle(f"Drill {data['run']}: latency of each operation, availability per 10 s, events (numbered) and alerts",
                 fontsize=10, y=0.998)
    fig.tight_layout(rect=(0, 0, 1, 0.99))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def outcomes(data):
    """Each event's per-tier outcome, computed again from the samples (the same function as the drill)."""
    for e in data["events"]:
        e["tiers"] = {n: outcome(t["samples"], t["errors"], e["t0"], e["t_repair"]) for n, t in data["tiers"].items()}
        e["tiers_repair"] = {n: outcome(t["samples"], t["errors"], e["t_repair"], e["t_whole"]) for n, t in data["tiers"].items()}


def recovery(data, path):
    events, tiers = data["events"], list(data["tiers"])
    fig, ax = plt.subplots(figsize=(12, 4))
    width = 0.8 / len(tiers)
    for j, name in enumerate(tiers):
        values = [e["tiers"][name]["stall_s"] for e in events]
        ax.bar([i + j * width for i in range(len(events))], values, width, label=name, color=COLORS.get(name))
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(events))])
    ax.set_xticklabels([f"{i + 1}. {e['name']}" for i, e in enumerate(events)], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("longest time without a\nsuccessful operation (s)")
    ax.axhline(22, color="#336791", ls="--", lw=0.8)
    ax.text(-0.4, 22.3, "PostgreSQL goal 22 s", fontsize=7, ha="left", color="#336791")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def rejoin_text(rejoin):
    """{tier: role} or, after a restart of the whole lab, {node: {tier: role}}."""
    return ", ".join(f"{k}: ({rejoin_text(v)})" if isinstance(v, dict) else f"{k}: {v}" for k, v in rejoin.items())


def row(i, e, tiers):
    rejoin = rejoin_text(e["rejoin"])
    whole = f"{e['t_whole'] - e['t0']:.0f} s" if e["whole"] else f"NOT WHOLE ({e['not_whole']})"
    host = e.get("host", "")
    held = [what for what, key in (("PostgreSQL leader", "pg_leader"), ("Redis primary", "redis_primary"))
            if e.get("before", {}).get(key) == host] + (["etcd leader"] if host in e.get("before", {}).get("etcd_leader", []) else [])
    if held:
        host += f" ({', '.join(held)})"
    what = e["what"]
    if e["name"] == "cut_pg_leader" and "clients" not in what:
        # the drill's first cut dropped only the traffic between lab hosts (DOCKER-USER)
        what += ": between lab hosts only, the drill's clients on this machine still reached it"
    return (f"| {i + 1} | {what} | {host} | " + " | ".join(cell(e["tiers"][n], e["tiers_repair"][n]) for n in tiers)
            + f" | {whole} | {rejoin} |")


def host_loss(e):
    """A lab host killed (`docker kill`) and started again."""
    return e["name"].startswith("kill_lab-node") or e["name"] == "kill_pg_leader_host"


def leader_loss(e, key="pg_leader", tier="postgresql"):
    """A host loss that took the PostgreSQL leader (or the Redis primary), as recorded before the
    break; in a run that did not record it: that tier's writes failed."""
    if not host_loss(e):
        return False
    if key in e.get("before", {}):
        return e["before"][key] == e.get("host")
    return e["tiers"][tier]["failed"] > 0


def redis_loss(e):
    return leader_loss(e, "redis_primary", "redis")


def minio_settings(s):
    """MinIO's timeouts a drill recorded; a drill from before they were recorded ran without them
    (the role set neither then: MinIO's defaults)."""
    return s.get("minio", {"conn_user_timeout": "not recorded (the role did not set it then: MinIO's default, 10m)",
                           "drive_max_timeout": "not recorded (the role did not set it then: MinIO's default, 30s)"})


def settings_text(s):
    """The lab's recovery settings a drill recorded."""
    return f"Patroni {s.get('patroni')}; HAProxy {s.get('haproxy')}; MinIO {minio_settings(s)}"


def goals(runs):
    """The drill's goals (issue: the platform under fire) against the host losses of the given
    runs: PostgreSQL writes back within 22 s and Redis within 5 s where the host held the leader or
    primary, no failed HTTP request through HAProxy, MinIO reads and writes going on (per run: the
    runs may differ in MinIO's settings)."""
    hosts = [e for d in runs for e in d["events"] if host_loss(e)]
    pg = [e["tiers"]["postgresql"]["stall_s"] for e in hosts if leader_loss(e)]
    rd = [e["tiers"]["redis"]["stall_s"] for e in hosts if redis_loss(e)]
    http = [e["tiers"]["http"]["failed"] for e in hosts if "http" in e["tiers"]]
    out = [f"Over the {len(hosts)} host losses (`docker kill`) of the {len(runs)} run(s) below:", ""]

    def line(what, goal, values, unit="s"):
        if not values:
            return f"- {what}: no such loss in these runs"
        met = sum(1 for v in values if v <= goal)
        return (f"- {what} (goal ≤ {goal:g} {unit}): median {statistics.median(values):.1f} {unit}, max {max(values):.1f} {unit}; "
                f"within the goal in {met} of {len(values)}")
    out += [line("PostgreSQL writes back after losing the leader's host", 22, pg),
            line("Redis writes back after losing the primary's host, documented client settings", 5, rd),
            f"- HTTP requests through HAProxy that failed (goal 0): {sum(http)} over the {len(http)} losses"
            if http else "- HTTP: not loaded in these runs"]
    for d in runs:
        mi = [(e["tiers"]["minio"]["stall_s"], e["tiers"]["minio"]["failed"]) for e in d["events"] if host_loss(e) and "minio" in e["tiers"]]
        if mi:
            out.append(f"- MinIO (goal: reads and writes go on with one node of three lost), run `{d['run']}` (MinIO {minio_settings(d['settings'])}): "
                       f"longest time without a successful operation per host loss "
                       f"{', '.join(f'{x:.1f}' for x, _ in mi)} s; {sum(f for _, f in mi)} of its operations failed")
    return out + [""]


def summary(events, name):
    stall = [e["tiers"][name]["stall_s"] for e in events]
    failed = [e["tiers"][name]["failed"] for e in events]
    longest = [e["tiers"][name]["max_latency_s"] for e in events]
    return (f"- {name}: no successful operation for median {statistics.median(stall):.1f} s (max {max(stall):.1f} s), "
            f"failed operations median {statistics.median(failed):g} (max {max(failed)}), longest operation median "
            f"{statistics.median(longest):.1f} s")


def leader_races(runs):
    """Where the time of each PostgreSQL failover went, from Patroni's journal (drills that
    recorded it: `leader_race`)."""
    races = [(d["run"], e) for d in runs for e in d["events"] if isinstance(e.get("leader_race"), dict)
             and "error" not in e["leader_race"]]
    if not races:
        return []
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    out = ["Where the time of each PostgreSQL failover went, in seconds after the event, from Patroni's journal on "
           "the members that stayed (`leader_race` in the drill's results). The race begins when the lost leader's key "
           "has expired: ttl after its last renewal, which comes every loop_wait, so between ttl - loop_wait and ttl "
           "after the loss (plus etcd's lease check, every 0.5 s). Each member then asks the members it may have to "
           "yield to for their state, the lost leader too (in synchronous mode: the former leader only), and Patroni "
           "gives that request 2 s, a timeout written into its code; the winner then promotes itself, and HAProxy's "
           "check of `/primary` sends the writes to it.", "",
           "| run | event | leader | race began | lost leader given up | promoted | writes back |",
           "|---|---|---|---|---|---|---|"]
    for run, e in races:
        r = e["leader_race"]
        out.append(f"| `{run}` | {e['name']} | {r['old']} → {r['new']} | {fmt(r.get('race_began'))} | "
                   f"{fmt(r.get('lost_leader_given_up'))} | {fmt(r.get('promoted'))} | {fmt(r.get('writes_back'))} |")
    if any("race_began" not in e["leader_race"] for _, e in races):
        out += ["", "-: not recorded (a drill from before the race's beginning was read from the journal)."]
    gaps = [(r["race_began"], r["promoted"] - r["race_began"], r["writes_back"] - r["promoted"]) for r in
            (e["leader_race"] for _, e in races) if {"race_began", "promoted"} <= r.keys() and r.get("writes_back") is not None]
    if gaps:
        out += ["", f"Over these {len(gaps)}: the race began {min(g[0] for g in gaps):.1f}-{max(g[0] for g in gaps):.1f} s "
                f"after the loss (median {statistics.median(g[0] for g in gaps):.1f}); from its beginning to the promotion "
                f"took median {statistics.median(g[1] for g in gaps):.2f} s, from the promotion to the first write "
                f"median {statistics.median(g[2] for g in gaps):.2f} s."]
    return out + [""]


def alert_name(a):
    labels = a["labels"]
    extra = " ".join(labels[k] for k in ("instance", "service", "proxy") if k in labels)
    return f"{labels['alertname']} {extra}".strip()


def cell(o, after=None):
    text = f"**{o['stall_s']:.1f} s**, {o['failed']}/{o['ops']} failed, longest op {o['max_latency_s']:.1f} s"
    if after and (after["failed"] or after["max_latency_s"] > 1.0):
        text += f"; after the repair {after['failed']}/{after['ops']} failed, longest op {after['max_latency_s']:.1f} s"
    return text


def markdown(data, baseline, source, more=(), command=""):
    tiers = list(data["tiers"])
    out = ["# The platform under fire: drill report", "",
           "Generated by `make report` (`benchmarks/report.py`) from the results of `make drill` (`benchmarks/drill.py`) "
           f"in `{source}`: drill run `{data['run']}`, started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(data['started']))}, "
           f"{data['ended'] / 60:.0f} minutes, on the lab (`make lab`: five containers on one {data['cpus']}-CPU machine, "
           "which also runs the load). Nothing here is edited by hand; rerun both commands to refresh it. This page: "
           f"`{command}`.", "",
           "Load, all tiers at once, one operation at a time per tier (client settings in "
           "[client-settings.md](client-settings.md)):", ""]
    for name in tiers:
        t = data["tiers"][name]
        lost = t["lost"] if isinstance(t["lost"], str) else len(t["lost"])
        writes = f", {t['acknowledged']} acknowledged writes, lost afterwards: **{lost}**" if name != "http" else " (reads)"
        out.append(f"- **{name}**: one operation every {data['load'][name]['interval_s']} s, {t['ops']} in all, "
                   f"{t['failed']} failed{writes}")
    s = data["settings"]
    out += ["", f"Lab settings during the run: {settings_text(s)}.", "", "## Goals", ""]
    out += goals([data] + list(more))
    out += ["![timeline](report/timeline.png)", "",
            "Each dot is one operation's latency (log scale); red crosses are failed operations; the grey line is the "
            "share of operations that succeeded in each 10 s; shaded: from a break until its repair, dotted: the platform "
            "whole again. The bottom panel shows the alerts Prometheus had firing (red critical, orange warning).", "",
            "## Recoveries per event", "",
            "Per tier, of the operations started between the event and its repair (the host started again, the "
            "cut host let through again; a killed process is started again by systemd): in bold the longest time "
            "without a successful operation from the event on (the time until writes succeed again where they "
            "stopped; about 0.1-0.5 s, the load's own interval, where nothing stopped), then the failed operations "
            "and the longest single operation (an operation that hangs instead of failing shows there). After the "
            "semicolon, where any: the same from the repair until the platform was whole again (a restarted host "
            "boots every service on the same two CPUs).", "",
            "| # | event | host | " + " | ".join(tiers) + " | whole again after | rejoined as |",
            "|---|---|---|" + "---|" * len(tiers) + "---|---|"]
    out += [row(i, e, tiers) for i, e in enumerate(data["events"])]
    out += ["", "![recovery](report/recovery.png)", ""]
    for extra in more:
        same = "same lab and settings" if extra["settings"] == data["settings"] else f"settings: {extra['settings']}"
        out += [f"The same measures in drill run `{extra['run']}` (started "
                f"{time.strftime('%H:%M UTC', time.gmtime(extra['started']))}, {same}):", "",
                "| # | event | host | " + " | ".join(tiers) + " | whole again after | rejoined as |",
                "|---|---|---|" + "---|" * len(tiers) + "---|---|"]
        out += [row(i, e, tiers) for i, e in enumerate(extra["events"])] + [""]
    kills = [e for d in [data] + more for e in d["events"] if leader_loss(e)]
    if kills:
        out += [f"Losses of the PostgreSQL leader's host (`docker kill`), medians over the {len(kills)} of all runs above:", ""]
        out += [summary(kills, name) for name in tiers] + [""]
    out += leader_races([data] + list(more))
    redis = [e for d in [data] + more for e in d["events"] if redis_loss(e)]
    if redis and "redis_defaults" in tiers:
        out += [f"Losses of the Redis primary's host (`docker kill`), {len(redis)}: the documented client settings against "
                "redis-py's defaults, the same writes at the same time:", ""]
        out += [summary(redis, "redis"), summary(redis, "redis_defaults"), ""]
    out += ["## Alerts per event", "",
            "Alerts firing in Prometheus (sampled every 3 s) that began between the event and the platform being whole "
            "again, seconds after the event: first seen firing, and last seen (resolved just after).", "",
            "| # | event | alerts (fired s - last seen s) |", "|---|---|---|"]
    for i, e in enumerate(data["events"]):
        fired = []
        for a in data["alerts"]:
            for start, end in a["intervals"]:
                if e["t0"] - 3 <= start <= e["t_whole"]:
                    fired.append(f"{alert_name(a)} ({start - e['t0']:.0f}-{end - e['t0']:.0f})")
        out.append(f"| {i + 1} | {e['name']} | {', '.join(fired) or 'none'} |")
    errors = [(n, err) for n in tiers for err in data["tiers"][n]["errors"]]
    if errors:
        out += ["", "## Errors the clients saw", ""] + [f"- {n}: `{err}`" for n, err in errors[:30]]
    if "rerun" in data:
        r = data["rerun"]
        out += ["", "## site.yml afterwards", "",
                f"`ansible-playbook -i inventories/lab playbooks/site.yml` after the drill: rc {r['rc']}, {r['seconds']} s, "
                f"changed {r['changed_total']} (" + ", ".join(f"{h} {v['changed']}" for h, v in sorted(r["hosts"].items())) + ")."]
        if r.get("changed_tasks"):
            out += ["", "What changed:", ""] + [f"- {c}" for c in r["changed_tasks"]]
    if baseline:
        out += ["", "## Before and after: the earlier settings", "",
                f"The same events in drill run `{baseline['run']}` under the earlier settings "
                f"({settings_text(baseline['settings'])}):", "",
                "| event | tier | before | after |", "|---|---|---|---|"]
        after = {e["name"]: e for e in data["events"]}
        for e in baseline["events"]:
            if e["name"] not in after:
                continue
            for n in tiers:
                if n in e["tiers"]:
                    out.append(f"| {e['name']} | {n} | {cell(e['tiers'][n], e['tiers_repair'][n])} | "
                               f"{cell(after[e['name']]['tiers'][n], after[e['name']]['tiers_repair'][n])} |")
        before = [e for e in baseline["events"] if leader_loss(e)]
        if before and kills:
            out += ["", f"Losses of the PostgreSQL leader's host, medians before ({len(before)} losses):", ""]
            out += [summary(before, n) for n in tiers if n in baseline["tiers"]]
            out += ["", f"and after ({len(kills)} losses, above):", ""] + [summary(kills, t) for t in tiers]
        before_redis = [e for e in baseline["events"] if redis_loss(e)]
        if before_redis and "redis_defaults" in baseline["tiers"]:
            out += ["", f"Losses of the Redis primary's host before ({len(before_redis)}):", "",
                    summary(before_redis, "redis"), summary(before_redis, "redis_defaults")]
    out += ["", "Benchmark figures of each tier (throughput, latency, failover of one tier alone): "
            "[benchmarks.md](benchmarks.md).", ""]
    return "\n".join(out)


def load(path):
    """A drill's results: build/benchmarks/NAME.json, or a copy kept with the docs (docs/data/drills/*.json.gz)."""
    path = pathlib.Path(path)
    return json.loads(gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", default=str(ROOT / "build" / "benchmarks" / "drill.json"))
    parser.add_argument("--baseline", help="a drill file of the same events under earlier settings")
    parser.add_argument("--more", nargs="*", default=[], help="drill files of further runs: their events join the tables")
    parser.add_argument("--output", default=str(DOCS / "platform-report.md"))
    args = parser.parse_args()
    data = load(args.input)
    baseline = load(args.baseline) if args.baseline else None
    more = [load(f) for f in args.more]
    for d in [data, baseline] + more:
        if d:
            outcomes(d)
    IMAGES.mkdir(parents=True, exist_ok=True)
    timeline(data, IMAGES / "timeline.png")
    recovery(data, IMAGES / "recovery.png")
    source = pathlib.Path(args.input)
    source = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source
    command = "python benchmarks/report.py " + " ".join(
        str(pathlib.Path(a).relative_to(ROOT)) if a.startswith(str(ROOT)) else a for a in sys.argv[1:])
    pathlib.Path(args.output).write_text(markdown(data, baseline, source, more, command))
    print(f"written {args.output}, {IMAGES / 'timeline.png'}, {IMAGES / 'recovery.png'}")


if __name__ == "__main__":
    main()
