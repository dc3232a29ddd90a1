#!/usr/bin/python3
# Managed by groundwork.platform.nvidia_gpu
"""Prometheus exporter for NVIDIA GPUs.

On every scrape it runs `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`
(bounded by --timeout), parses it with the collection's nvidia-smi parser
(_nvidia_smi.py, installed next to this script) and serves the readings under the
metric names of nvidia_gpu_exporter (nvidia_smi_*), plus:
  nvidia_smi_command_exit_code    nvidia-smi's exit status (-1: timed out or not runnable)
  nvidia_smi_scrape_duration_seconds  how long nvidia-smi took
HTTP and the exposition format come from python3-prometheus-client.
"""
import argparse
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _nvidia_smi import QUERY_ARG, NvidiaSmiParseError, parse_query_csv, prometheus_families  # noqa: E402
from prometheus_client import start_http_server  # noqa: E402
from prometheus_client.core import REGISTRY, GaugeMetricFamily  # noqa: E402


class NvidiaSmiCollector:
    def __init__(self, nvidia_smi, timeout):
        self.nvidia_smi = nvidia_smi
        self.timeout = timeout

    def read(self):
        """(exit code, parsed GPUs): nvidia-smi's exit status, or -1 when it could not run."""
        try:
            proc = subprocess.run([self.nvidia_smi, "--query-gpu=" + QUERY_ARG, "--format=csv,noheader,nounits"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                                  timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            print("nvidia-smi: %s" % exc, file=sys.stderr, flush=True)
            return -1, []
        if proc.returncode != 0:
            print("nvidia-smi exited with %d: %s" % (proc.returncode, (proc.stderr or proc.stdout).strip()),
                  file=sys.stderr, flush=True)
            return proc.returncode, []
        try:
            return 0, parse_query_csv(proc.stdout)
        except NvidiaSmiParseError as exc:
            print("nvidia-smi output not understood: %s" % exc, file=sys.stderr, flush=True)
            return -1, []

    def collect(self):
        started = time.monotonic()
        code, gpus = self.read()
        for name, help_text, samples in prometheus_families(gpus):
            labels = sorted(samples[0][0])
            family = GaugeMetricFamily(name, help_text, labels=labels)
            for sample_labels, value in samples:
                family.add_metric([sample_labels[k] for k in labels], value)
            yield family
        yield GaugeMetricFamily("nvidia_smi_command_exit_code",
                                "Exit status of nvidia-smi at this scrape (-1: timed out, not runnable or not parsed).",
                                value=code)
        yield GaugeMetricFamily("nvidia_smi_scrape_duration_seconds", "Time nvidia-smi took at this scrape.",
                                value=time.monotonic() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen-address", required=True, help="address to listen on")
    parser.add_argument("--port", type=int, required=True, help="port of /metrics")
    parser.add_argument("--nvidia-smi", default="nvidia-smi", help="path of nvidia-smi")
    parser.add_argument("--timeout", type=float, default=10, help="seconds nvidia-smi may take per scrape")
    args = parser.parse_args()
    REGISTRY.register(NvidiaSmiCollector(args.nvidia_smi, args.timeout))
    start_http_server(args.port, addr=args.listen_address)
    print("serving GPU metrics on %s:%d/metrics (nvidia-smi: %s)" % (args.listen_address, args.port, args.nvidia_smi),
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    while not stop.wait(3600):
        pass


if __name__ == "__main__":
    main()
