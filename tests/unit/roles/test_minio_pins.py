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


def test_mirror_is_not_shipped_so_the_copy_is_needed():
    assert "mirror" in _load("galaxy.yml")["build_ignore"]
