# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_gpu_info run as Ansible runs it, with a fake nvidia-smi printing hand-written output
(fixtures/nvidia_smi: written in nvidia-smi's formats, not captured from a GPU)."""
import pathlib

from test_haproxy_weights import run_module  # same directory; pytest puts it on sys.path

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "module_utils" / "fixtures" / "nvidia_smi"


def fake_smi(tmp_path, fixture, rc=0):
    script = tmp_path / "nvidia-smi"
    script.write_text("#!/bin/sh\n"
                      "case \"$*\" in *--query-gpu=index,uuid,name,*--format=csv,noheader,nounits*) ;; *) exit 9;; esac\n"
                      f"cat '{FIXTURES / fixture}'\nexit {rc}\n")
    script.chmod(0o755)
    return str(script)


def gpu_bus(tmp_path):
    dev = tmp_path / "pci" / "0000:19:00.0"
    dev.mkdir(parents=True)
    (dev / "vendor").write_text("0x10de\n")
    (dev / "class").write_text("0x030200\n")
    return str(tmp_path / "pci")


def test_gpu_less_host(tmp_path):
    (tmp_path / "pci").mkdir()
    rc, result = run_module("nvidia_gpu_info", {"pci_devices_root": str(tmp_path / "pci")}, check_mode=True)
    assert rc == 0 and result["changed"] is False
    info = result["nvidia_gpu"]
    assert info["present"] is False and info["gpus"] == []
    assert info["message"].startswith("no NVIDIA GPU on this host")


def test_host_with_gpu_and_driver(tmp_path):
    rc, result = run_module("nvidia_gpu_info", {
        "pci_devices_root": gpu_bus(tmp_path), "nvidia_smi": fake_smi(tmp_path, "query_h100.csv")})
    assert rc == 0, result
    info = result["nvidia_gpu"]
    assert info["present"] and info["usable"] and info["count"] == 1
    assert info["gpus"][0]["memory_total_mib"] == 81559
    assert info["driver_version"] == "550.90.07"


def test_driver_broken_is_reported_or_fails(tmp_path):
    args = {"pci_devices_root": gpu_bus(tmp_path), "nvidia_smi": fake_smi(tmp_path, "smi_failed.txt", rc=9)}
    rc, result = run_module("nvidia_gpu_info", args)
    assert rc == 0 and result["nvidia_gpu"]["usable"] is False
    assert "nvidia-smi failed" in result["nvidia_gpu"]["message"]
    rc, result = run_module("nvidia_gpu_info", dict(args, fail_on_error=True))
    assert rc != 0 and result["failed"] and "couldn't communicate" in result["msg"]


def test_bad_path_fails(tmp_path):
    rc, result = run_module("nvidia_gpu_info", {"nvidia_smi": str(tmp_path / "nope")})
    assert rc != 0 and "not an executable" in result["msg"]
