#!/usr/bin/env python3
"""Kafka benchmarks on the lab (`make lab`: lab-node1..3, TLS + SASL/SCRAM, the kafka role's settings).

  throughput  kafka-producer-perf-test (in the mirror's Kafka) on lab-node1 against the three
              brokers, 100-byte records into a benchmark topic (6 partitions, replication factor 2),
              acks=1 and acks=all, each with the Kafka client's defaults, with batching and
              compression (linger.ms=20, batch.size=262144, compression.type=lz4) and with larger
              batches (linger.ms=50, batch.size=1 MiB, a 64 MiB buffer, lz4), alternating,
              `--rounds` times; then kafka-consumer-perf-test reads the topic back. Prints each
              run and the medians (records/s, MB/s, p99 latency).
              Each producer run sends `--records` records; the first `--warmup` of them are the
              tool's warm-up (`--warmup-records`: the JVM compiles its hot code meanwhile, which
              on these two cores costs a short run up to half its rate) and the medians are of the
              steady state after them; the whole run's rate is printed beside them.
  raw         the natural limit beside ours: a second Kafka cluster on the same three hosts, from
              the same installed distribution with its shipped defaults (KRaft combined, PLAINTEXT,
              no TLS, SCRAM or ACLs, none of the role's settings; ports 19092/19093, data in
              /var/lib/kafka-raw, the role's heap size), started for the run and stopped after it.
              Rounds alternate between the role's cluster and the raw one, same topic layout,
              acks=1 and acks=all with batching and lz4 and with the client defaults; the medians
              and the ratio ours/raw are printed.
  failover    a producer (org.apache.kafka.tools.VerifiableProducer, acks=all, idempotent,
              200 records/s) on lab-node1 into the benchmark topic while lab-node3's container is
              killed (`docker kill`) and started again: the longest gap between acknowledged records
              around the kill, and every record acknowledged or reported failed. Repeated `--rounds`
              times, the median printed. The node rejoins before the next round.

The benchmark topic `groundwork-bench` (retention 1 hour) is created by the admin user when it is
missing and never deleted. Traffic goes only to the lab's own containers; every loop is bounded in
count and time. Run from the repository root: `.venv/bin/python benchmarks/kafka_bench.py throughput`.
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
import time

NODES = ("lab-node1", "lab-node2", "lab-node3")
HOME = "/opt/kafka/current"
ADMIN = "/etc/kafka/admin-client.properties"
TOPIC = "groundwork-bench"
TUNED = "linger.ms=20 batch.size=262144 compression.type=lz4"
# larger batches: 1 MiB per partition, up to 50 ms to fill them, a 64 MiB buffer
TUNED_LARGE = "linger.ms=50 batch.size=1048576 compression.type=lz4 buffer.memory=67108864"


def sh(*cmd, timeout=600, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check)


def dexec(node, script, timeout=600, check=True):
    return sh("docker", "exec", node, "sh", "-c", script, timeout=timeout, check=check)


def address(node):
    return sh("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", node).stdout.strip()


def bootstrap():
    return ",".join(f"{address(n)}:9092" for n in NODES)


def ensure_topic(servers):
    """The benchmark topic, set up as the lab's platform topics are (replication factor 2,
    min.insync.replicas 1: acks=all writes go on while one replica is lost), retention 1 hour."""
    listed = dexec(NODES[0], f"{HOME}/bin/kafka-topics.sh --bootstrap-server {servers} --command-config {ADMIN} --list")
    if TOPIC not in listed.stdout.split():
        dexec(NODES[0], f"{HOME}/bin/kafka-topics.sh --bootstrap-server {servers} --command-config {ADMIN} --create "
                        f"--topic {TOPIC} --partitions 6 --replication-factor 2")
    dexec(NODES[0], f"{HOME}/bin/kafka-run-class.sh kafka.admin.ConfigCommand --bootstrap-server {servers} "
                    f"--command-config {ADMIN} --alter --entity-type topics --entity-name {TOPIC} "
                    f"--add-config retention.ms=3600000,min.insync.replicas=1")


SUMMARY = re.compile(r"(\d+) (steady state )?records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\).*?(\d+) ms 99th")
WARMUP = 500_000


def perf_summary(output):
    """kafka-producer-perf-test's summary lines ("N records sent, X records/sec (Y MB/sec), ...,
    P ms 99th, ..." for the whole run, then "N steady state records sent, ..." after a warm-up) ->
    (steady records/s, MB/s, p99 ms, whole run's records/s, the steady line); without a warm-up
    the whole run is the steady state."""
    whole = steady = None
    for line in output.splitlines():
        m = SUMMARY.search(line)
        if m and m.group(2):
            steady = (m, line)
        elif m and "ms 50th" in line:
            whole = (m, line)
    m, line = steady or whole
    return float(m.group(3)), float(m.group(4)), float(m.group(5)), float(whole[0].group(3)), line


def producer_run(servers, records, acks, props, config=ADMIN, warmup=WARMUP):
    """One kafka-producer-perf-test run (client settings from `config`, none for a PLAINTEXT
    cluster), the first `warmup` records left out of its steady-state figures; returns
    records/s, MB/s, p99 ms (steady state), the whole run's records/s and the summary line."""
    settings = f"--command-config {config} " if config else ""
    warm = f"--warmup-records {warmup} " if warmup else ""
    out = dexec(NODES[0], f"{HOME}/bin/kafka-producer-perf-test.sh --bootstrap-server {servers} --topic {TOPIC} "
                          f"--num-records {records} {warm}--record-size 100 --throughput -1 {settings}"
                          f"--command-property acks={acks} {props}", timeout=900)
    return perf_summary(out.stdout)


def consumer_run(servers, records):
    out = dexec(NODES[1], f"{HOME}/bin/kafka-consumer-perf-test.sh --bootstrap-server {servers} --topic {TOPIC} "
                          f"--num-records {records} --command-config {ADMIN} --group bench-{int(time.time())} "
                          f"--timeout 60000 --hide-header", timeout=600)
    # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
    cols = out.stdout.strip().splitlines()[-1].split(",")
    return float(cols[5]), float(cols[3])


def throughput(args):
    servers = bootstrap()
    ensure_topic(servers)
    cases = [(acks, name, props) for acks in ("1", "all")
             for name, props in (("client defaults", ""), ("batched+lz4", TUNED), ("large batches+lz4", TUNED_LARGE))]
    results = {(a, n): [] for a, n, _ in cases}
    for r in range(args.rounds):
        for acks, name, props in cases:
            rps, mbs, p99, whole, line = producer_run(servers, args.records, acks, props, warmup=args.warmup)
            results[(acks, name)].append((rps, mbs, p99, whole))
            print(f"round {r + 1} acks={acks:3} {name:15} {line} (whole run {whole:,.0f} records/s)", flush=True)
    print(f"\nmedians over {args.rounds} rounds of {args.records} records of 100 bytes, the first {args.warmup} a warm-up "
          f"(topic {TOPIC}: 6 partitions, RF 2, min.insync.replicas 1)")
    print("| acks | producer settings | records/s (steady) | MB/s | p99 latency ms | records/s (whole run) |\n|---|---|---|---|---|---|")
    for acks, name, _ in cases:
        runs = results[(acks, name)]
        print(f"| {acks} | {name} | {statistics.median(x[0] for x in runs):,.0f} | {statistics.median(x[1] for x in runs):.1f} "
              f"| {statistics.median(x[2] for x in runs):.0f} | {statistics.median(x[3] for x in runs):,.0f} |")
    rates = [consumer_run(servers, args.records) for _ in range(args.rounds)]
    print(f"consumer (kafka-consumer-perf-test, {args.records} records): median {statistics.median(r[0] for r in rates):,.0f} records/s, "
          f"{statistics.median(r[1] for r in rates):.1f} MB/s")


RAW_DIR = "/var/lib/kafka-raw"
RAW_CONFIG = "/root/kafka-raw.properties"


def raw_start():
    """The raw cluster: Kafka's shipped defaults plus what a three-node KRaft cluster needs to run.
    Returns its bootstrap servers."""
    raw_stop()  # what a run stopped halfway left behind
    ips = [address(n) for n in NODES]
    voters = ",".join(f"{i + 1}@{ip}:19093" for i, ip in enumerate(ips))
    heap = re.search(r'^KAFKA_HEAP_OPTS="([^"]*)"', dexec(NODES[0], "cat /etc/default/kafka").stdout, re.M).group(1)
    cluster = dexec(NODES[0], f"{HOME}/bin/kafka-storage.sh random-uuid").stdout.strip()
    for i, (node, ip) in enumerate(zip(NODES, ips)):
        config = "\n".join([
            "process.roles=broker,controller", f"node.id={i + 1}", f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://{ip}:19092,CONTROLLER://{ip}:19093", f"advertised.listeners=PLAINTEXT://{ip}:19092",
            "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT", f"log.dirs={RAW_DIR}",
            "offsets.topic.replication.factor=2"])
        dexec(node, f"test ! -e {RAW_DIR} && printf '{config}\\n' > {RAW_CONFIG} && "
                    f"{HOME}/bin/kafka-storage.sh format -t {cluster} -c {RAW_CONFIG} >/dev/null && "
                    f"KAFKA_HEAP_OPTS='{heap}' nohup {HOME}/bin/kafka-server-start.sh {RAW_CONFIG} > /root/kafka-raw.log 2>&1 &")
    servers = ",".join(f"{ip}:19092" for ip in ips)
    until = time.time() + 180
    while time.time() < until:
        if dexec(NODES[0], f"{HOME}/bin/kafka-topics.sh --bootstrap-server {servers} --create --if-not-exists --topic {TOPIC} "
                           f"--partitions 6 --replication-factor 2 --config min.insync.replicas=1", check=False).returncode == 0:
            return servers
        time.sleep(5)
    raw_stop()
    sys.exit("the raw cluster did not come up in 180 s (see /root/kafka-raw.log on the nodes)")


def raw_stop():
    """Stop the raw cluster and remove what raw_start made (its own scratch directory only)."""
    for node in NODES:
        # [k]: the pattern must not match the shell that runs pkill (its command line holds it too)
        dexec(node, f"pkill -f '[k]afka.Kafka {RAW_CONFIG}'; sleep 5; pkill -9 -f '[k]afka.Kafka {RAW_CONFIG}'; "
                    f"rm -rf {RAW_DIR} {RAW_CONFIG}", check=False)


def raw(args):
    ours = bootstrap()
    ensure_topic(ours)
    servers = raw_start()
    try:
        cases = [(acks, name, props) for acks in ("1", "all") for name, props in (("client defaults", ""), ("batched+lz4", TUNED))]
        results = {(c, a, n): [] for c in ("ours", "raw") for a, n, _ in cases}
        for r in range(args.rounds):
            for acks, name, props in cases:
                for cluster, target, config in (("ours", ours, ADMIN), ("raw", servers, None)):
                    rps, _, p99, whole, line = producer_run(target, args.records, acks, props, config, args.warmup)
                    results[(cluster, acks, name)].append((rps, p99, whole))
                    print(f"round {r + 1} {cluster:4} acks={acks:3} {name:15} {line} (whole run {whole:,.0f} records/s)", flush=True)
    finally:
        raw_stop()
    print(f"\nmedians over {args.rounds} rounds of {args.records} records of 100 bytes, the first {args.warmup} a warm-up, "
          "alternating (6 partitions, RF 2, min.insync.replicas 1); ours: TLS + SCRAM + ACLs and the role's settings; "
          "raw: the shipped defaults, PLAINTEXT. Steady state, then the whole run's records/s")
    print("| acks | producer settings | ours records/s (p99 ms) | raw records/s (p99 ms) | ours / raw | whole run: ours, raw |\n"
          "|---|---|---|---|---|---|")
    for acks, name, _ in cases:
        o, w = results[("ours", acks, name)], results[("raw", acks, name)]
        mo, mw = statistics.median(x[0] for x in o), statistics.median(x[0] for x in w)
        print(f"| {acks} | {name} | {mo:,.0f} ({statistics.median(x[1] for x in o):,.0f}) | {mw:,.0f} "
              f"({statistics.median(x[1] for x in w):,.0f}) | {mo / mw:.2f} | {statistics.median(x[2] for x in o):,.0f}, "
              f"{statistics.median(x[2] for x in w):,.0f} |")


def record_delays(events):
    """VerifiableProducer's events -> (longest gap between acknowledged records, longest delay of
    one record). The producer sends record i about i/throughput after its start (it is throttled to
    --throughput), so a record's delay is its acknowledgement time minus that; records bound for a
    lost leader's partition wait in the producer until a new leader is elected, while the others go
    on (the adaptive partitioner sends new records elsewhere): the gap shows whether the producer
    stalled, the delay what one record waited."""
    start = next(e["timestamp"] for e in events if e.get("name") == "startup_complete") / 1000
    rate = next((e["avg_throughput"] for e in events if e.get("name") == "tool_data"), None)
    acked = [(e["timestamp"] / 1000, int(e["value"])) for e in events if e.get("name") == "producer_send_success"]
    times = sorted(t for t, _ in acked)
    gap = max((b - a for a, b in zip(times, times[1:])), default=float("nan"))
    if not rate:
        return gap, float("nan")
    first = min(t - i / rate for t, i in acked)  # the fastest record: its delay is the network's, ~0
    delay = max(t - (first + i / rate) for t, i in acked)
    return gap, delay


def failover(args):
    servers = bootstrap()
    ensure_topic(servers)
    victim = NODES[2]
    gaps = []
    for r in range(args.rounds):
        # every node leads its share of the partitions again (after the previous round's kill the
        # victim led none until Kafka's own rebalance, 5 minutes later), so each kill costs leaders
        dexec(NODES[0], f"{HOME}/bin/kafka-run-class.sh org.apache.kafka.tools.LeaderElectionCommand --bootstrap-server {servers} "
                        f"--command-config {ADMIN} --election-type PREFERRED --all-topic-partitions", check=False)
        leaders = dexec(NODES[0], f"{HOME}/bin/kafka-topics.sh --bootstrap-server {servers} --command-config {ADMIN} "
                                  f"--describe --topic {TOPIC}").stdout
        led = len(re.findall(r"Leader: 3\b", leaders))
        count = args.rate * args.seconds
        log = f"/root/failover-{r}.jsonl"
        # the admin client settings, plus the client settings under test (--props)
        config = "/root/failover-client.properties"
        extra = "\\n".join(args.props.split())
        dexec(NODES[0], f"(cat {ADMIN}; printf '{extra}\\n') > {config}; chmod 600 {config}")
        dexec(NODES[0], f"nohup timeout {args.seconds + 120} {HOME}/bin/kafka-run-class.sh org.apache.kafka.tools.VerifiableProducer "
                        f"--bootstrap-server {servers} --topic {TOPIC} --max-messages {count} --throughput {args.rate} --acks -1 "
                        f"--command-config {config} > {log} 2>/dev/null &")
        time.sleep(args.seconds / 3)
        killed = time.time()
        sh("docker", "kill", victim)
        time.sleep(args.down)
        sh("docker", "start", victim)
        deadline = time.time() + args.seconds + 150
        while time.time() < deadline:
            done = dexec(NODES[0], f"grep -c tool_data $(echo {log}) || true", check=False).stdout.strip()
            if done not in ("", "0"):
                break
            time.sleep(2)
        events = [json.loads(x) for x in dexec(NODES[0], f"cat {log}").stdout.splitlines() if x.startswith("{")]
        acked = sum(1 for e in events if e.get("name") == "producer_send_success")
        failed = sum(1 for e in events if e.get("name") == "producer_send_error")
        gap, delay = record_delays(events)
        gaps.append((gap, delay))
        print(f"round {r + 1}: {victim} led {led} of 6 partitions (killed at {time.strftime('%H:%M:%S', time.localtime(killed))}); "
              f"{acked} of {count} acknowledged, {failed} reported failed; longest gap between acknowledgements {gap:.2f} s, "
              f"longest delay of one record {delay:.2f} s", flush=True)
        # the node must be back in every ISR before the next round
        until = time.time() + 300
        while time.time() < until:
            urp = dexec(NODES[0], f"{HOME}/bin/kafka-topics.sh --bootstrap-server {servers} --command-config {ADMIN} "
                                  f"--describe --under-replicated-partitions", check=False)
            if urp.returncode == 0 and "Partition:" not in urp.stdout:
                break
            time.sleep(5)
        time.sleep(args.settle)
    print(f"\nmedians over {args.rounds} rounds ({victim} killed and down {args.down} s each, client settings: "
          f"{args.props or 'defaults'}): longest gap between "
          f"acknowledged records {statistics.median(g for g, _ in gaps):.2f} s, longest delay of one record "
          f"{statistics.median(d for _, d in gaps):.2f} s")


def main():
    global NODES  # pylint: disable=global-statement (--nodes: which containers the functions above use)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["throughput", "raw", "failover"])
    parser.add_argument("--records", type=int, default=3_000_000)
    parser.add_argument("--warmup", type=int, default=WARMUP, help="records of each producer run left out of its steady state")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=200, help="failover: records/s of the producer")
    parser.add_argument("--seconds", type=int, default=60, help="failover: how long the producer runs")
    parser.add_argument("--down", type=int, default=20, help="failover: seconds the node stays down")
    parser.add_argument("--settle", type=int, default=10)
    parser.add_argument("--props", default="", help="failover: client settings for the producer, e.g. 'request.timeout.ms=5000'")
    parser.add_argument("--nodes", default=",".join(NODES),
                        help="the three Kafka containers (default the lab's; the kafka scenario's kept hosts work too)")
    args = parser.parse_args()
    NODES = tuple(args.nodes.split(","))
    if sh("docker", "inspect", NODES[0], check=False).returncode != 0:
        sys.exit("no lab: run `make lab` first")
    {"throughput": throughput, "raw": raw, "failover": failover}[args.what](args)


if __name__ == "__main__":
    main()
