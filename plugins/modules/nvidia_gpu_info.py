#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_gpu_info
short_description: Detect NVIDIA GPUs and read their state from nvidia-smi
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Looks for NVIDIA display and 3D controllers on the PCI bus (sysfs, vendor C(0x10de),
    class C(0x03xxxx)); works without pciutils and before a driver is loaded.
  - When C(nvidia-smi) is installed, runs
    C(nvidia-smi --query-gpu=FIELDS --format=csv,noheader,nounits) and parses each GPU's
    name, UUID, temperature, utilisation, memory, power and ECC error counters.
  - The parsing lives in C(plugins/module_utils/_nvidia_smi.py) as pure functions, unit
    tested on hand-written output in nvidia-smi's formats (not captured from a GPU).
  - The module only reads; it never changes anything.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads, and does the same in check mode.
  diff_mode:
    support: none
    details: Nothing changes, so there is nothing to diff.
  platform:
    platforms: posix
    details: Linux (reads /sys/bus/pci).
options:
  nvidia_smi:
    description:
      - Path to C(nvidia-smi). By default it is looked up in C(PATH) and C(/usr/bin).
    type: path
  pci_devices_root:
    description:
      - Where PCI devices are listed in sysfs (tests point it elsewhere).
    type: path
    default: /sys/bus/pci/devices
  timeout:
    description:
      - Seconds to wait for C(nvidia-smi) (it can hang on a GPU that fell off the bus).
    type: int
    default: 30
  fail_on_error:
    description:
      - Fail when a GPU is on the PCI bus and C(nvidia-smi) exists but fails. When false,
        the failure is reported in RV(nvidia_gpu.message) and RV(nvidia_gpu.usable) is false.
    type: bool
    default: false
notes:
  - Hosts without an NVIDIA GPU return RV(nvidia_gpu.present=false) and a message saying so;
    that is not an error.
"""

EXAMPLES = r"""
- name: Detect NVIDIA GPUs
  groundwork.platform.nvidia_gpu_info:
  register: gpu

- name: Say why the GPU exporter is skipped
  ansible.builtin.debug:
    msg: "{{ gpu.nvidia_gpu.message }}"
  when: not gpu.nvidia_gpu.present
"""

RETURN = r"""
nvidia_gpu:
  description: What was found.
  returned: always
  type: dict
  contains:
    present:
      description: Whether the host has at least one NVIDIA GPU (on the PCI bus or seen by nvidia-smi).
      type: bool
      sample: true
    usable:
      description: Whether nvidia-smi answered for at least one GPU (driver loaded).
      type: bool
      sample: true
    count:
      description: Number of GPUs.
      type: int
      sample: 1
    pci_devices:
      description: PCI addresses of the NVIDIA controllers found in sysfs.
      type: list
      elements: str
      sample: ["0000:19:00.0"]
    nvidia_smi:
      description: Path of nvidia-smi, or null.
      type: str
      sample: /usr/bin/nvidia-smi
    driver_version:
      description: NVIDIA driver version, or null.
      type: str
      sample: "550.90.07"
    gpus:
      description: One entry per GPU, numbers without units (C(null) where nvidia-smi says N/A).
      type: list
      elements: dict
      sample:
        - index: 0
          name: NVIDIA H100 80GB HBM3
          uuid: GPU-5e5c3a4e-2d0e-8d4c-91b1-1a2b3c4d5e6f
          temperature_celsius: 34
          utilization_gpu_percent: 0
          memory_total_mib: 81559
          memory_used_mib: 1
          ecc_uncorrected_volatile: 0
    message:
      description: One sentence for the operator (why a GPU-less host is skipped, or what was found).
      type: str
      sample: no NVIDIA GPU on this host (none on the PCI bus, no nvidia-smi)
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.platform.plugins.module_utils._nvidia_smi import (
    QUERY_ARG,
    NvidiaSmiParseError,
    find_pci_gpus,
    parse_query_csv,
    summarize,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            nvidia_smi=dict(type="path"),
            pci_devices_root=dict(type="path", default="/sys/bus/pci/devices"),
            timeout=dict(type="int", default=30),
            fail_on_error=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    smi = module.params["nvidia_smi"]
    if smi and not os.access(smi, os.X_OK):
        module.fail_json(msg="nvidia_smi=%s is not an executable file" % smi)
    if not smi:
        smi = module.get_bin_path("nvidia-smi", opt_dirs=["/usr/bin", "/usr/local/nvidia/bin"])
    pci = find_pci_gpus(module.params["pci_devices_root"])
    gpus, error = [], None
    if smi:
        rc, out, err = module.run_command(
            ["timeout", str(module.params["timeout"]), smi, "--query-gpu=" + QUERY_ARG, "--format=csv,noheader,nounits"])
        if rc == 0:
            try:
                gpus = parse_query_csv(out)
            except NvidiaSmiParseError as exc:
                error = str(exc)
        else:
            error = (err or out).strip() or "nvidia-smi exited with %d" % rc
    result = summarize(pci, smi, gpus, error)
    if error and pci and module.params["fail_on_error"]:
        module.fail_json(msg=result["message"], nvidia_gpu=result)
    module.exit_json(changed=False, nvidia_gpu=result)


if __name__ == "__main__":
    main()
