#!/usr/bin/env python3
"""MinIO PUT/GET throughput on the lab (`make lab`: lab-node1..3, one erasure-coded deployment,
TLS from the platform CA), with the mirror's `mc` on lab-node1 as the client.

Each round writes a SIZE-MiB object of random bytes to the bucket `its-video` (mc uploads it in
parts: multipart), reads it back into a file and checks the checksum, STREAMS copies at once; the
rate is bytes moved over the wall time of the copies. The objects are the bench's own
(`bench/...`) and are removed after each round; the local files live under /tmp on lab-node1 and
are removed too. The root credentials go to mc in its environment (MC_HOST_*, passed on by
`docker exec -e`), never on a command line.

    python3 benchmarks/minio_bench.py [--size 256] [--rounds 3] [--streams 1 4]
Prints JSON and writes build/benchmarks/minio.json. Traffic stays inside the lab's containers.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import time

from _results import save

ROOT = pathlib.Path(__file__).resolve().parents[1]
HOST = "lab-node1"
MC = "/usr/local/bin/mc --config-dir /etc/minio/mc --quiet"


def dx(command, env=None):
    # `-e NAME` without a value: docker passes the variable on from this process's environment,
    # so the credentials are on no command line, here or in the container
    args = ["docker", "exec"] + [f"-e{k}" for k in (env or {})] + [HOST, "sh", "-c", command]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"{command!r}: {done.stderr.strip()[-500:]}")
    return done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256, help="MiB per object")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    password = (ROOT / "build" / "lab-secrets" / "minio_root_password").read_text().strip()
    env = {"MC_HOST_lab": f"https://groundwork-admin:{password}@{HOST}:9000"}
    dx(f"mkdir -p /tmp/minio-bench && head -c {args.size}M /dev/urandom > /tmp/minio-bench/src && sha256sum /tmp/minio-bench/src")
    want = dx("sha256sum < /tmp/minio-bench/src").split()[0]
    result = {"size_mib": args.size, "client": f"mc on {HOST}", "runs": {}}
    try:
        for streams in args.streams:
            put, get = [], []
            for r in range(args.rounds):
                names = [f"bench/r{r}-s{i}" for i in range(streams)]
                copies = " ".join(f"{MC} cp /tmp/minio-bench/src lab/its-video/{n} >/dev/null &" for n in names)
                t0 = time.time(); dx(f"{copies} wait", env); put.append(time.time() - t0)
                copies = " ".join(f"{MC} cp lab/its-video/{n} /tmp/minio-bench/got{i} >/dev/null &" for i, n in enumerate(names))
                t0 = time.time(); dx(f"{copies} wait", env); get.append(time.time() - t0)
                sums = dx("sha256sum /tmp/minio-bench/got* | cut -d' ' -f1").split()
                assert sums == [want] * streams, "an object read back differs from the one written"
                dx(f"{MC} rm --recursive --force lab/its-video/bench/ >/dev/null; rm -f /tmp/minio-bench/got*", env)
            gbit = lambda seconds: round(streams * args.size * 8 * 1.048576 / 1000 / seconds, 2)
            result["runs"][str(streams)] = {"put_gbit_s": [gbit(s) for s in put], "get_gbit_s": [gbit(s) for s in get],
                                            "put_median_gbit_s": statistics.median(gbit(s) for s in put),
                                            "get_median_gbit_s": statistics.median(gbit(s) for s in get)}
            print(json.dumps({streams: result["runs"][str(streams)]}), flush=True)
    finally:
        dx("rm -rf /tmp/minio-bench")
    save("minio", result)


if __name__ == "__main__":
    main()
