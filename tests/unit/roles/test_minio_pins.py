"""The minio role's versions are the artifact mirror's pins.

mirror/versions.yml is not shipped with the collection (galaxy.yml build_ignore), so the
role carries its own copy of the pins in defaults/main.yml; this keeps them equal.
"""
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _load(path):
    with open(ROOT / path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_minio_role_versions_equal_the_mirror_pins():
    pins = _load("mirror/versions.yml")
    defaults = _load("roles/minio/defaults/main.yml")
    assert defaults["minio_server_version"] == pins["mirror_minio_version"]
    assert defaults["minio_client_version"] == pins["mirror_mc_version"]


def test_minio_role_sha256_pins_equal_the_mirror_pins():
    pins = _load("mirror/versions.yml")
    pinned = _load("roles/minio/vars/main.yml")["_minio_pinned_sha256"]
    assert pinned["minio"][pins["mirror_minio_version"]] == pins["mirror_minio_sha256"]
    assert pinned["mc"][pins["mirror_mc_version"]] == pins["mirror_mc_sha256"]
    # the install checks against the pin (or the operator's value), never the mirror's FILE.sha256
    install = (ROOT / "roles/minio/tasks/install.yml").read_text()
    assert "_minio_pinned_sha256[item.name][item.version]" in install and "'.sha256'" not in install


def test_mirror_is_not_shipped_so_the_copy_is_needed():
    assert "mirror" in _load("galaxy.yml")["build_ignore"]
