"""Verify the GPU exporter by scraping it. gpu-a10g and gpu-h100 run a FAKE nvidia-smi
(prepare.yml) that prints hand-written query output (unit-test fixtures in nvidia-smi's CSV
format, not captured from a GPU); gpu-none has no GPU and no nvidia-smi."""
import json
import os
import pathlib
import re

import pytest
import testinfra

ROOT = pathlib.Path(__file__).resolve().parents[3]
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = ["ansible://gpu-none"]

MIB = 1048576
DATA = "/usr/local/share/groundwork-fake-nvidia-smi/query.csv"
PUBLISHED = json.loads((pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "published_facts.json").read_text())
# What the fake prints on each host (tests/unit/plugins/module_utils/fixtures/nvidia_smi/).
EXPECTED = {
    "gpu-a10g": {
        "GPU-1f2e3d4c-0000-1111-2222-333344445555": {
            "nvidia_smi_temperature_gpu": 87, "nvidia_smi_memory_used_bytes": 22871 * MIB,
            "nvidia_smi_memory_total_bytes": 23028 * MIB, "nvidia_smi_utilization_gpu_ratio": 1.0,
            "nvidia_smi_power_draw_watts": 298.33, "nvidia_smi_fan_speed_ratio": 0.74,
            "nvidia_smi_ecc_errors_uncorrected_volatile_total": 2,
            "nvidia_smi_ecc_errors_corrected_volatile_total": 3},
        "GPU-1f2e3d4c-0000-1111-2222-333344446666": {
            "nvidia_smi_temperature_gpu": 41, "nvidia_smi_memory_used_bytes": 512 * MIB,
            "nvidia_smi_utilization_gpu_ratio": 0.12, "nvidia_smi_ecc_errors_uncorrected_volatile_total": 0},
    },
    "gpu-h100": {
        "GPU-5e5c3a4e-2d0e-8d4c-91b1-1a2b3c4d5e6f": {
            "nvidia_smi_temperature_gpu": 34, "nvidia_smi_memory_used_bytes": 1 * MIB,
            "nvidia_smi_memory_total_bytes": 81559 * MIB, "nvidia_smi_power_draw_watts": 70.12,
            "nvidia_smi_power_limit_watts": 700.0},
    },
}
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


HOSTS = {name: testinfra.get_host(f"ansible://{name}", ansible_inventory=INVENTORY)
         for name in ("gpu-a10g", "gpu-h100", "gpu-none")}
GPU_HOSTS = sorted(EXPECTED)


def _address(host):
    return host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]


def _scrape(host):
    out = host.run(f"curl -fsS --max-time 15 http://{_address(host)}:9835/metrics")
    assert out.rc == 0, out.stderr
    samples = {}
    for line in out.stdout.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not an exposition line: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        samples[(m.group(1), tuple(sorted(labels.items())))] = float(m.group(3))
    return samples


def _value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.mark.parametrize("name", GPU_HOSTS)
def test_exporter_runs_and_listens_on_the_private_address_only(name):
    gpu_host = HOSTS[name]
    svc = gpu_host.service("nvidia-gpu-exporter")
    assert svc.is_running and svc.is_enabled
    assert gpu_host.process.get(user="prometheus", comm="python3").args.startswith("/usr/bin/python3 ")
    sockets = [s for s in gpu_host.socket.get_listening_sockets() if s.endswith(":9835")]
    assert sockets == [f"tcp://{_address(gpu_host)}:9835"]
    assert gpu_host.run("curl -fsS --max-time 3 http://127.0.0.1:9835/metrics").rc != 0


@pytest.mark.parametrize("name", GPU_HOSTS)
def test_metrics_carry_the_fixture_readings(name):
    samples = _scrape(HOSTS[name])
    expected = EXPECTED[name]
    for uuid, metrics in expected.items():
        for metric, want in metrics.items():
            got = _value(samples, metric, uuid=uuid)
            assert got == pytest.approx(want), f"{metric}{{uuid={uuid}}}: {got}, expected {want}"
    assert _value(samples, "nvidia_smi_command_exit_code") == 0
    info = [labels for (metric, labels) in samples if metric == "nvidia_smi_gpu_info"]
    assert sorted(dict(i)["uuid"] for i in info) == sorted(expected)


@pytest.mark.parametrize("name", GPU_HOSTS)
def test_gpu_alert_rule_inputs_are_all_served(name):
    rules = (ROOT / "roles/prometheus/templates/rules/gpu.rules.yml.j2").read_text()
    wanted = set(re.findall(r"\bnvidia_smi_[a-z_]+", rules))
    assert wanted
    served = {metric for metric, labels in _scrape(HOSTS[name])}
    assert wanted <= served, sorted(wanted - served)


@pytest.mark.parametrize("name", GPU_HOSTS)
def test_a_failing_nvidia_smi_is_reported_not_hidden(name):
    """Without its data the fake fails like nvidia-smi without a driver (exit 9): the scrape
    still answers, says so, and serves no stale reading."""
    gpu_host = HOSTS[name]
    assert gpu_host.run(f"mv {DATA} {DATA}.away").rc == 0
    try:
        samples = _scrape(gpu_host)
    finally:
        assert gpu_host.run(f"mv {DATA}.away {DATA}").rc == 0
    assert _value(samples, "nvidia_smi_command_exit_code") == 9
    assert not [k for k in samples if k[0] in ("nvidia_smi_temperature_gpu", "nvidia_smi_gpu_info")]
    assert _value(_scrape(gpu_host), "nvidia_smi_command_exit_code") == 0


@pytest.mark.parametrize("name", GPU_HOSTS)
def test_published_facts(name):
    gpu_host = HOSTS[name]
    facts = PUBLISHED[name]
    detected = facts["nvidia_gpu_detected"]
    assert detected["present"] and detected["usable"]
    assert detected["count"] == len(EXPECTED[name])
    assert detected["nvidia_smi"] == "/usr/local/bin/nvidia-smi"
    assert sorted(g["uuid"] for g in detected["gpus"]) == sorted(EXPECTED[name])
    for gpu in detected["gpus"]:
        assert gpu["temperature_celsius"] == EXPECTED[name][gpu["uuid"]]["nvidia_smi_temperature_gpu"]
    assert facts["groundwork_endpoints"]["gpu"] == f"http://{_address(gpu_host)}:9835/metrics"
    assert facts["common_private_address"] == _address(gpu_host)


def test_gpu_less_host_skipped_with_the_message():
    host = HOSTS["gpu-none"]
    detected = PUBLISHED["gpu-none"]["nvidia_gpu_detected"]
    assert detected["present"] is False and detected["usable"] is False
    assert detected["message"] == "no NVIDIA GPU on this host (none on the PCI bus, no nvidia-smi)"
    assert "gpu" not in PUBLISHED["gpu-none"]["groundwork_endpoints"]
    assert not host.file("/usr/local/bin/nvidia-smi").exists
    assert not host.service("nvidia-gpu-exporter").is_running
    assert not host.file("/etc/systemd/system/nvidia-gpu-exporter.service").exists
    assert not host.file("/usr/local/lib/groundwork-nvidia-gpu-exporter").exists
    assert not host.package("python3-prometheus-client").is_installed
