# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse what ``nvidia-smi`` prints, and find NVIDIA GPUs on the PCI bus.

Pure functions (no process, no network): the module ``nvidia_gpu_info`` and
``scripts/gpu-check.sh`` feed them the text nvidia-smi printed.

Two formats are understood:

* ``nvidia-smi --query-gpu=FIELDS --format=csv,noheader,nounits``: one line per GPU,
  values separated by ``", "``, in the order of FIELDS; values nvidia-smi cannot
  give read ``[N/A]``, ``[Not Supported]``, ``N/A`` or ``[Unknown Error]``.
  With ``--format=csv`` (header, units) the header names the fields and values
  carry units (``34 C`` is not, ``81559 MiB`` is): both are handled.
* ``nvidia-smi -q -x``: the XML report (``<nvidia_smi_log>`` with one ``<gpu>`` per
  device). ECC counters are read from the old layout (``volatile/single_bit/total``,
  ``double_bit/total``) and from the newer one (``sram_correctable``,
  ``sram_uncorrectable``/``sram_uncorrectable_parity``/``_secded``, ``dram_*``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import os
import re
import xml.etree.ElementTree as ET

# The fields asked for by default, and the key each becomes in the parsed result.
QUERY_FIELDS = (
    ("index", "index"),
    ("uuid", "uuid"),
    ("name", "name"),
    ("pci.bus_id", "pci_bus_id"),
    ("driver_version", "driver_version"),
    ("temperature.gpu", "temperature_celsius"),
    ("utilization.gpu", "utilization_gpu_percent"),
    ("utilization.memory", "utilization_memory_percent"),
    ("memory.total", "memory_total_mib"),
    ("memory.used", "memory_used_mib"),
    ("memory.free", "memory_free_mib"),
    ("power.draw", "power_draw_watts"),
    ("power.limit", "power_limit_watts"),
    ("ecc.mode.current", "ecc_mode"),
    ("ecc.errors.corrected.volatile.total", "ecc_corrected_volatile"),
    ("ecc.errors.uncorrected.volatile.total", "ecc_uncorrected_volatile"),
    ("ecc.errors.corrected.aggregate.total", "ecc_corrected_aggregate"),
    ("ecc.errors.uncorrected.aggregate.total", "ecc_uncorrected_aggregate"),
    ("fan.speed", "fan_speed_percent"),
)
QUERY_ARG = ",".join(f for f, dummy in QUERY_FIELDS)

_TEXT_KEYS = {"uuid", "name", "pci_bus_id", "driver_version", "ecc_mode"}
_INT_KEYS = {"index", "memory_total_mib", "memory_used_mib", "memory_free_mib",
             "ecc_corrected_volatile", "ecc_uncorrected_volatile",
             "ecc_corrected_aggregate", "ecc_uncorrected_aggregate"}
_MISSING = re.compile(r"^\[?(N/A|Not Supported|Unknown Error|Insufficient Permissions|GPU is lost|Requested functionality has been deprecated)\]?$", re.I)
_NUMBER = re.compile(r"^(-?\d+(?:\.\d+)?)\s*([A-Za-z%/]*)$")
_PCI_ADDR = re.compile(r"^(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


class NvidiaSmiParseError(ValueError):
    """nvidia-smi's output is not in the format asked for."""


def _key_for(field):
    for f, key in QUERY_FIELDS:
        if f == field:
            return key
    # a field we have no name for: dots to underscores, units stripped from the header
    return re.sub(r"[^a-z0-9]+", "_", field.lower()).strip("_")


def convert(key, raw):
    """One value: None when nvidia-smi could not give it, int/float for numbers (units
    dropped), str for text fields."""
    value = raw.strip()
    if value == "" or _MISSING.match(value):
        return None
    if key in _TEXT_KEYS:
        return value
    match = _NUMBER.match(value)
    if not match:
        raise NvidiaSmiParseError(f"{key}: expected a number, got {raw!r}")
    number = match.group(1)
    if key in _INT_KEYS and "." not in number:
        return int(number)
    return float(number) if "." in number else int(number)


def parse_query_csv(text, fields=None):
    """Parse ``--query-gpu`` CSV output. ``fields``: the list passed to --query-gpu
    (default QUERY_FIELDS' names) when the output has no header; a header line
    (``--format=csv``) is recognised and used instead. Returns one dict per GPU."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return []
    names = list(fields) if fields else [f for f, dummy in QUERY_FIELDS]
    first = [c.strip() for c in next(csv.reader([lines[0]], skipinitialspace=True))]
    known = set(f for f, dummy in QUERY_FIELDS) | set(names)
    if re.sub(r"\s*\[.*\]$", "", first[0]) in known:
        # a header: "index, uuid, memory.total [MiB], ..."
        names = [re.sub(r"\s*\[.*\]$", "", c) for c in first]
        lines = lines[1:]
    keys = [_key_for(f) for f in names]
    gpus = []
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith(("NVIDIA-SMI has failed", "No devices were found", "Failed to")):
            raise NvidiaSmiParseError(f"nvidia-smi reported an error: {line.strip()}")
        values = next(csv.reader([line], skipinitialspace=True))
        if len(values) != len(keys):
            raise NvidiaSmiParseError(
                f"line {number}: {len(values)} values for {len(keys)} fields ({line.strip()!r})")
        gpus.append({key: convert(key, raw) for key, raw in zip(keys, values)})
    return gpus


def _text(node, path):
    found = node.find(path) if node is not None else None
    if found is None or found.text is None:
        return None
    return found.text.strip()


def _num(node, path, key="value"):
    raw = _text(node, path)
    if raw is None:
        return None
    return convert(key, raw)


def _ecc_sum(node, paths):
    values = [_num(node, p, "ecc") for p in paths]
    values = [v for v in values if v is not None]
    return int(sum(values)) if values else None


def parse_xml(text):
    """Parse ``nvidia-smi -q -x``. Returns {driver_version, cuda_version, gpus: [...]},
    each GPU with the same keys as parse_query_csv's defaults where the XML has them."""
    try:
        root = ET.fromstring((text or "").strip())
    except ET.ParseError as exc:
        raise NvidiaSmiParseError(f"not XML: {exc}")
    if root.tag != "nvidia_smi_log":
        raise NvidiaSmiParseError(f"expected <nvidia_smi_log>, got <{root.tag}>")
    driver = _text(root, "driver_version")
    gpus = []
    for index, gpu in enumerate(root.findall("gpu")):
        power = gpu.find("gpu_power_readings")
        if power is None:
            power = gpu.find("power_readings")
        volatile = gpu.find("ecc_errors/volatile")
        aggregate = gpu.find("ecc_errors/aggregate")
        minor = _num(gpu, "minor_number", "index")
        gpus.append({
            "index": minor if isinstance(minor, int) else index,
            "uuid": _text(gpu, "uuid"),
            "name": _text(gpu, "product_name"),
            "pci_bus_id": gpu.get("id") or _text(gpu, "pci/pci_bus_id"),
            "driver_version": driver,
            "temperature_celsius": _num(gpu, "temperature/gpu_temp"),
            "utilization_gpu_percent": _num(gpu, "utilization/gpu_util"),
            "utilization_memory_percent": _num(gpu, "utilization/memory_util"),
            "memory_total_mib": _num(gpu, "fb_memory_usage/total", "memory_total_mib"),
            "memory_used_mib": _num(gpu, "fb_memory_usage/used", "memory_used_mib"),
            "memory_free_mib": _num(gpu, "fb_memory_usage/free", "memory_free_mib"),
            "power_draw_watts": _num(power, "power_draw") if power is not None else None,
            "power_limit_watts": (_num(power, "current_power_limit") if _text(power, "current_power_limit") is not None
                                  else _num(power, "power_limit")) if power is not None else None,
            "ecc_mode": _text(gpu, "ecc_mode/current_ecc"),
            "ecc_corrected_volatile": _ecc_sum(volatile, ["single_bit/total", "sram_correctable", "dram_correctable"]),
            "ecc_uncorrected_volatile": _ecc_sum(volatile, [
                "double_bit/total", "sram_uncorrectable", "sram_uncorrectable_parity",
                "sram_uncorrectable_secded", "dram_uncorrectable"]),
            "ecc_corrected_aggregate": _ecc_sum(aggregate, ["single_bit/total", "sram_correctable", "dram_correctable"]),
            "ecc_uncorrected_aggregate": _ecc_sum(aggregate, [
                "double_bit/total", "sram_uncorrectable", "sram_uncorrectable_parity",
                "sram_uncorrectable_secded", "dram_uncorrectable"]),
            "fan_speed_percent": _num(gpu, "fan_speed"),
        })
    return {"driver_version": driver, "cuda_version": _text(root, "cuda_version"), "gpus": gpus}


def memory_used_percent(gpu):
    """Share of framebuffer memory in use, 0-100, or None."""
    total, used = gpu.get("memory_total_mib"), gpu.get("memory_used_mib")
    if not total or used is None:
        return None
    return round(100.0 * used / total, 2)


# Prometheus metrics, one per parsed key: (metric name, key, factor, help). The names are
# those of nvidia_gpu_exporter (utkuozdemir), so rules and dashboards written for it work.
MIB = 1048576
PROMETHEUS_METRICS = (
    ("nvidia_smi_temperature_gpu", "temperature_celsius", 1, "GPU core temperature in degrees Celsius."),
    ("nvidia_smi_utilization_gpu_ratio", "utilization_gpu_percent", 0.01,
     "Share of the last sample period during which a kernel ran on the GPU (0-1)."),
    ("nvidia_smi_utilization_memory_ratio", "utilization_memory_percent", 0.01,
     "Share of the last sample period during which device memory was read or written (0-1)."),
    ("nvidia_smi_memory_total_bytes", "memory_total_mib", MIB, "Total framebuffer memory in bytes."),
    ("nvidia_smi_memory_used_bytes", "memory_used_mib", MIB, "Framebuffer memory in use in bytes."),
    ("nvidia_smi_memory_free_bytes", "memory_free_mib", MIB, "Free framebuffer memory in bytes."),
    ("nvidia_smi_power_draw_watts", "power_draw_watts", 1, "Power drawn by the board in watts."),
    ("nvidia_smi_power_limit_watts", "power_limit_watts", 1, "Power limit of the board in watts."),
    ("nvidia_smi_ecc_errors_corrected_volatile_total", "ecc_corrected_volatile", 1,
     "Corrected ECC errors since the driver was loaded."),
    ("nvidia_smi_ecc_errors_uncorrected_volatile_total", "ecc_uncorrected_volatile", 1,
     "Uncorrected ECC errors since the driver was loaded."),
    ("nvidia_smi_ecc_errors_corrected_aggregate_total", "ecc_corrected_aggregate", 1,
     "Corrected ECC errors over the GPU's lifetime."),
    ("nvidia_smi_ecc_errors_uncorrected_aggregate_total", "ecc_uncorrected_aggregate", 1,
     "Uncorrected ECC errors over the GPU's lifetime."),
    ("nvidia_smi_fan_speed_ratio", "fan_speed_percent", 0.01, "Fan speed as a share of its maximum (0-1)."),
)
_INFO_LABELS = ("uuid", "name", "index", "pci_bus_id", "driver_version")


def prometheus_families(gpus):
    """Metric families for parsed GPUs: a list of (name, help, [(labels, value)]).
    ``nvidia_smi_gpu_info`` (value 1, labelled with uuid, name, index, PCI bus id and
    driver) comes first; every other metric is labelled by ``uuid`` alone. Values
    nvidia-smi could not give (None) are left out, and so is a metric no GPU has."""
    families = [("nvidia_smi_gpu_info", "A GPU seen by nvidia-smi (value 1), with its identity in labels.",
                 [({k: "" if g.get(k) is None else str(g.get(k)) for k in _INFO_LABELS}, 1) for g in gpus])]
    for name, key, factor, help_text in PROMETHEUS_METRICS:
        samples = [({"uuid": g.get("uuid") or ""}, g[key] * factor)
                   for g in gpus if g.get(key) is not None]
        families.append((name, help_text, samples))
    return [f for f in families if f[2]]


def find_pci_gpus(devices_root="/sys/bus/pci/devices"):
    """PCI addresses of NVIDIA display/3D controllers (vendor 0x10de, class 0x03xxxx),
    read from sysfs. Works without pciutils and without a driver loaded."""
    found = []
    try:
        entries = sorted(os.listdir(devices_root))
    except OSError:
        return found
    for entry in entries:
        if not _PCI_ADDR.match(entry):
            continue
        base = os.path.join(devices_root, entry)
        try:
            with open(os.path.join(base, "vendor")) as fh:
                vendor = fh.read().strip().lower()
            with open(os.path.join(base, "class")) as fh:
                klass = fh.read().strip().lower()
        except OSError:
            continue
        if vendor == "0x10de" and klass.startswith("0x03"):
            found.append(entry)
    return found


def summarize(pci_devices, smi_path, gpus, smi_error=None):
    """The module's answer: whether this host has NVIDIA GPUs, and a clear message."""
    present = bool(pci_devices) or bool(gpus)
    if gpus:
        message = "%d NVIDIA GPU(s): %s (driver %s)" % (
            len(gpus), ", ".join(sorted({g.get("name") or "?" for g in gpus})), gpus[0].get("driver_version") or "?")
    elif pci_devices and not smi_path:
        message = ("%d NVIDIA GPU(s) on the PCI bus (%s) but no nvidia-smi: install NVIDIA's driver first"
                   % (len(pci_devices), ", ".join(pci_devices)))
    elif pci_devices:
        message = "%d NVIDIA GPU(s) on the PCI bus but nvidia-smi failed: %s" % (len(pci_devices), smi_error or "no output")
    else:
        message = "no NVIDIA GPU on this host (none on the PCI bus%s)" % (
            ", nvidia-smi found none" if smi_path else ", no nvidia-smi")
    return {
        "present": present,
        "usable": bool(gpus),
        "count": len(gpus) if gpus else len(pci_devices),
        "pci_devices": list(pci_devices),
        "nvidia_smi": smi_path,
        "driver_version": gpus[0].get("driver_version") if gpus else None,
        "gpus": gpus,
        "message": message,
    }
