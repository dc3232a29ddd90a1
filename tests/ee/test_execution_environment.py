"""The collection as ansible-builder sees it (run by the build stage of scripts/test.sh, after it
built the tarball into build/dist and installed it into build/installed).

ansible-builder needs an RPM-based base image and Galaxy to build an image; neither is reachable
here. What can be checked offline is checked: what `introspect` reads from the installed
collection, and the build context `create` renders from execution-environment.yml."""
import pathlib
import re
import subprocess

import yaml
from packaging.requirements import Requirement

ROOT = pathlib.Path(__file__).resolve().parents[2]
INSTALLED = ROOT / "build" / "installed"
DIST = ROOT / "build" / "dist"

# what the collection runs on the controller, found in the tree, and the Python package it needs
CONTROLLER_NEEDS = {
    "netaddr": ("roles", r"ansible\.utils\.(ipwrap|ipaddr|ip_address)"),
    "cryptography": ("roles/_common/tasks/tls_issue.yml", r"community\.crypto\.openssl_privatekey"),
    "redis": ("plugins/modules/failover_check.py", r"^\s+import redis$"),
    "psycopg": ("plugins/modules/failover_check.py", r"^\s+import psycopg$"),
}


def _found(where, pattern):
    paths = [ROOT / where] if (ROOT / where).is_file() else (ROOT / where).rglob("*.yml")
    return any(re.search(pattern, p.read_text(), re.M) for p in paths)


def introspect():
    out = subprocess.run(["ansible-builder", "introspect", "--sanitize", str(INSTALLED)],
                         capture_output=True, text=True, check=True).stdout
    data = yaml.safe_load(out.split("---", 1)[1])
    return data


def test_introspect_finds_the_controller_needs_in_the_built_collection():
    data = introspect()
    python = [line for line in data["python"] if "from collection groundwork.platform" in line]
    names = {Requirement(line.split("#")[0].strip()).name for line in python}
    for package, (where, pattern) in CONTROLLER_NEEDS.items():
        assert _found(where, pattern), f"{where} no longer uses what {package} is listed for"
        assert package in names, f"{package} is missing from meta/ee-requirements.txt"
    system = [line for line in data["system"] if "from collection groundwork.platform" in line]
    # the vault role signs its PKI intermediate with openssl on the controller
    assert re.search(r"^\s+- openssl$", (ROOT / "roles/vault/tasks/pki.yml").read_text(), re.M)
    assert any(line.startswith("openssl ") for line in system), system


def test_the_pinned_controller_versions_satisfy_the_declared_ranges():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            req = Requirement(line.split("#")[0].strip())
            pins[req.name] = next(iter(req.specifier)).version
    for line in (ROOT / "meta" / "ee-requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            if req.name in pins:
                assert req.specifier.contains(pins[req.name]), f"requirements.txt pins {req.name} {pins[req.name]}, outside {req}"


def test_create_renders_a_build_context_with_this_collection(tmp_path):
    tarballs = sorted(DIST.glob("groundwork-platform-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    subprocess.run(["ansible-builder", "create", "-f", "execution-environment.yml", "-c", str(tmp_path)],
                   cwd=ROOT, capture_output=True, text=True, check=True)
    assert (tmp_path / "_build" / "collection" / tarballs[0].name).read_bytes() == tarballs[0].read_bytes()
    steps = (tmp_path / "Dockerfile").read_text()
    galaxy = steps.split("FROM base as galaxy", 1)[1].split("FROM base as builder", 1)[0]
    assert "ansible-galaxy collection install --offline --no-deps -p /usr/share/ansible/collections " \
           "/build/collection/groundwork-platform-*.tar.gz" in galaxy
    assert "introspect" in steps.split("FROM base as builder", 1)[1]
    # the community collections the image gets are the ones galaxy.yml depends on
    meta = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    wanted = yaml.safe_load((tmp_path / "_build" / "requirements.yml").read_text())
    assert {c["name"] for c in wanted["collections"]} == set(meta["dependencies"])
    version = re.search(r"ansible-core==(\S+)", (ROOT / "requirements.txt").read_text()).group(1)
    assert f'ANSIBLE_INSTALL_REFS="ansible-core=={version} ansible-runner==' in steps
