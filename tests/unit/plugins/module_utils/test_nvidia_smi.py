# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia-smi parsing on output in nvidia-smi's formats (see fixtures/nvidia_smi/README.md) and sysfs detection."""
import pathlib
import re

import pytest

from ansible_collections.groundwork.platform.plugins.module_utils import _nvidia_smi as smi

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "nvidia_smi"


def read(name):
    return (FIXTURES / name).read_text()


def test_query_csv_single_h100():
    (gpu,) = smi.parse_query_csv(read("query_h100.csv"))
    assert gpu["index"] == 0
    assert gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["uuid"].startswith("GPU-5e5c3a4e")
    assert gpu["pci_bus_id"] == "00000000:19:00.0"
    assert gpu["driver_version"] == "550.90.07"
    assert gpu["temperature_celsius"] == 34
    assert gpu["memory_total_mib"] == 81559 and gpu["memory_used_mib"] == 1
    assert gpu["power_draw_watts"] == pytest.approx(70.12)
    assert gpu["ecc_mode"] == "Enabled"
    assert gpu["ecc_uncorrected_volatile"] == 0
    assert gpu["fan_speed_percent"] is None  # [N/A] on a passively cooled card
    assert smi.memory_used_percent(gpu) == pytest.approx(0.0, abs=0.01)


def test_query_csv_two_gpus_with_errors_and_load():
    gpus = smi.parse_query_csv(read("query_2x_a10g_errors.csv"))
    assert [g["index"] for g in gpus] == [0, 1]
    hot = gpus[0]
    assert hot["temperature_celsius"] == 87 and hot["utilization_gpu_percent"] == 100
    assert hot["ecc_corrected_volatile"] == 3 and hot["ecc_uncorrected_volatile"] == 2
    assert hot["ecc_corrected_aggregate"] == 11
    assert smi.memory_used_percent(hot) == pytest.approx(99.32, abs=0.01)
    assert gpus[1]["fan_speed_percent"] == 30


def test_query_csv_not_supported_values_become_none():
    (gpu,) = smi.parse_query_csv(read("query_t4_not_supported.csv"))
    assert gpu["power_draw_watts"] is None and gpu["power_limit_watts"] is None
    assert gpu["ecc_mode"] == "Disabled"
    assert gpu["ecc_uncorrected_volatile"] is None
    assert gpu["fan_speed_percent"] is None
    assert gpu["temperature_celsius"] == 40


def test_query_csv_with_header_and_units():
    (gpu,) = smi.parse_query_csv(read("query_header_units.csv"))
    assert gpu["name"] == "NVIDIA L4"
    assert gpu["memory_total_mib"] == 23034 and gpu["memory_used_mib"] == 1200
    assert gpu["utilization_gpu_percent"] == 45
    assert gpu["power_draw_watts"] == pytest.approx(38.5)


def test_query_csv_with_explicit_fields():
    gpus = smi.parse_query_csv("0, 55\n1, 60\n", fields=["index", "temperature.gpu"])
    assert gpus == [{"index": 0, "temperature_celsius": 55}, {"index": 1, "temperature_celsius": 60}]


def test_query_csv_empty_means_no_gpu():
    assert smi.parse_query_csv("") == []
    assert smi.parse_query_csv("\n\n") == []


@pytest.mark.parametrize("text,match", [
    ("0, GPU-x, name\n", "3 values for 19 fields"),
    ("0, 1, 2, 3, 4, hot, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18\n", "temperature_celsius: expected a number"),
])
def test_query_csv_bad_input(text, match):
    with pytest.raises(smi.NvidiaSmiParseError, match=match):
        smi.parse_query_csv(text)


def test_driver_failure_message_is_an_error():
    with pytest.raises(smi.NvidiaSmiParseError, match="couldn't communicate"):
        smi.parse_query_csv(read("smi_failed.txt"))


def test_xml_new_layout_h100():
    report = smi.parse_xml(read("q_h100.xml"))
    assert report["driver_version"] == "550.90.07" and report["cuda_version"] == "12.4"
    (gpu,) = report["gpus"]
    assert gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["pci_bus_id"] == "00000000:19:00.0"
    assert gpu["temperature_celsius"] == 34
    assert gpu["memory_total_mib"] == 81559 and gpu["memory_free_mib"] == 81230
    assert gpu["power_draw_watts"] == pytest.approx(70.12) and gpu["power_limit_watts"] == pytest.approx(700.0)
    assert gpu["ecc_corrected_volatile"] == 0 and gpu["ecc_uncorrected_volatile"] == 0
    assert gpu["ecc_corrected_aggregate"] == 5 and gpu["ecc_uncorrected_aggregate"] == 1
    assert gpu["fan_speed_percent"] is None


def test_xml_old_layout_two_t4():
    report = smi.parse_xml(read("q_t4_old.xml"))
    first, second = report["gpus"]
    assert first["index"] == 0 and second["index"] == 1
    assert first["ecc_corrected_volatile"] == 5 and first["ecc_uncorrected_volatile"] == 1
    assert first["ecc_corrected_aggregate"] == 9
    assert first["power_draw_watts"] is None and first["power_limit_watts"] == pytest.approx(70.0)
    assert first["utilization_gpu_percent"] == 97
    assert smi.memory_used_percent(first) == pytest.approx(92.66, abs=0.01)
    assert second["ecc_mode"] == "Disabled" and second["ecc_uncorrected_volatile"] is None


def test_csv_and_xml_agree_on_the_same_gpu():
    (from_csv,) = smi.parse_query_csv(read("query_h100.csv"))
    (from_xml,) = smi.parse_xml(read("q_h100.xml"))["gpus"]
    for key in ("uuid", "name", "pci_bus_id", "temperature_celsius", "memory_total_mib",
                "memory_used_mib", "utilization_gpu_percent", "ecc_uncorrected_volatile"):
        assert from_csv[key] == from_xml[key], key


@pytest.mark.parametrize("text", ["not xml at all", "<other/>"])
def test_xml_bad_input(text):
    with pytest.raises(smi.NvidiaSmiParseError):
        smi.parse_xml(text)


def _pci(root, addr, vendor, klass):
    dev = root / addr
    dev.mkdir(parents=True)
    (dev / "vendor").write_text(vendor + "\n")
    (dev / "class").write_text(klass + "\n")


def test_find_pci_gpus(tmp_path):
    _pci(tmp_path, "0000:19:00.0", "0x10de", "0x030200")   # NVIDIA 3D controller
    _pci(tmp_path, "0000:1a:00.0", "0x10de", "0x068000")   # NVIDIA NVSwitch bridge: not a GPU
    _pci(tmp_path, "0000:00:02.0", "0x8086", "0x030000")   # Intel VGA
    (tmp_path / "not-a-device").mkdir()
    assert smi.find_pci_gpus(str(tmp_path)) == ["0000:19:00.0"]
    assert smi.find_pci_gpus(str(tmp_path / "missing")) == []


def test_summary_without_gpu_says_so():
    result = smi.summarize([], None, [])
    assert result["present"] is False and result["count"] == 0
    assert result["message"] == "no NVIDIA GPU on this host (none on the PCI bus, no nvidia-smi)"


def test_summary_gpu_without_driver():
    result = smi.summarize(["0000:19:00.0"], None, [])
    assert result["present"] is True and result["usable"] is False
    assert "install NVIDIA's driver" in result["message"]


def test_summary_with_gpus():
    gpus = smi.parse_query_csv(read("query_2x_a10g_errors.csv"))
    result = smi.summarize(["0000:00:1e.0", "0000:00:1f.0"], "/usr/bin/nvidia-smi", gpus)
    assert result["usable"] and result["count"] == 2 and result["driver_version"] == "535.104.05"
    assert result["message"] == "2 NVIDIA GPU(s): NVIDIA A10G (driver 535.104.05)"


def _family(families, name):
    found = [samples for fname, dummy, samples in families if fname == name]
    assert len(found) == 1, name
    return found[0]


def test_prometheus_families_two_gpus():
    gpus = smi.parse_query_csv(read("query_2x_a10g_errors.csv"))
    families = smi.prometheus_families(gpus)
    assert families[0][0] == "nvidia_smi_gpu_info"
    info = _family(families, "nvidia_smi_gpu_info")
    assert info[0] == ({"uuid": "GPU-1f2e3d4c-0000-1111-2222-333344445555", "name": "NVIDIA A10G", "index": "0",
                        "pci_bus_id": "00000000:00:1E.0", "driver_version": "535.104.05"}, 1)
    assert len(info) == 2
    hot = {"uuid": "GPU-1f2e3d4c-0000-1111-2222-333344445555"}
    assert (hot, 87) in _family(families, "nvidia_smi_temperature_gpu")
    assert (hot, 22871 * 1048576) in _family(families, "nvidia_smi_memory_used_bytes")
    assert (hot, 23028 * 1048576) in _family(families, "nvidia_smi_memory_total_bytes")
    assert (hot, 2) in _family(families, "nvidia_smi_ecc_errors_uncorrected_volatile_total")
    assert (hot, 11) in _family(families, "nvidia_smi_ecc_errors_corrected_aggregate_total")
    ratio = dict((lbl["uuid"], v) for lbl, v in _family(families, "nvidia_smi_utilization_gpu_ratio"))
    assert ratio[hot["uuid"]] == pytest.approx(1.0)
    assert ratio["GPU-1f2e3d4c-0000-1111-2222-333344446666"] == pytest.approx(0.12)
    assert dict((lbl["uuid"], v) for lbl, v in _family(families, "nvidia_smi_fan_speed_ratio"))[
        hot["uuid"]] == pytest.approx(0.74)


def test_prometheus_families_leave_out_missing_values():
    (gpu,) = smi.parse_query_csv(read("query_t4_not_supported.csv"))
    names = [name for name, dummy, dummy2 in smi.prometheus_families([gpu])]
    assert "nvidia_smi_temperature_gpu" in names
    # [N/A] / [Not Supported] are absent, not zero: a zero would be a false reading
    for absent in ("nvidia_smi_power_draw_watts", "nvidia_smi_fan_speed_ratio",
                   "nvidia_smi_ecc_errors_uncorrected_volatile_total"):
        assert absent not in names


def test_prometheus_families_without_gpus_is_empty():
    assert smi.prometheus_families([]) == []


def test_prometheus_metric_names_match_the_gpu_alert_rules():
    rules = (pathlib.Path(__file__).parents[4] / "roles/prometheus/templates/rules/gpu.rules.yml.j2").read_text()
    used = set(re.findall(r"\bnvidia_smi_[a-z_]+", rules))
    assert used, "the GPU rules use no nvidia_smi_* metric"
    # the readings come from the parser; the exporter adds its own status series (nvidia-smi's exit status)
    exporter = (pathlib.Path(__file__).parents[4] / "roles/nvidia_gpu/files/nvidia-gpu-exporter.py").read_text()
    own = set(re.findall(r'GaugeMetricFamily\(\s*"(nvidia_smi_[a-z_]+)"', exporter))
    assert "nvidia_smi_command_exit_code" in own
    assert used <= {name for name, dummy, dummy2, dummy3 in smi.PROMETHEUS_METRICS} | own
