"""Bad variables stop the play before anything changes, with a message naming the variable."""
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import pytest
from gwtest import started

testinfra_hosts = ["ansible://minio-1"]

SCENARIO = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])


def _converge(*extra, host_vars=None):
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="1")
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    with tempfile.TemporaryDirectory() as tmp:
        if host_vars:
            # a copy of the inventory with host_vars of our own (they override its group_vars)
            inventory = shutil.copytree(inventory, pathlib.Path(tmp) / "inventory", symlinks=True)
            (inventory / "host_vars").mkdir(exist_ok=True)
            for name, text in host_vars.items():
                (inventory / "host_vars" / f"{name}.yml").write_text(text, encoding="utf-8")
        # only the role's own tasks (common is converged already and has nothing to do with it)
        cmd = ["ansible-playbook", "-i", str(inventory), str(SCENARIO / "converge.yml"), "--tags", "minio", *extra]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)


def _started(host):
    return started(host, "minio")


@pytest.mark.parametrize(
    "extra, host_vars, expected",
    [
        (["-e", "minio_root_password="], None, "minio_root_password"),
        ([], {"minio-2": "minio_drives: [/var/lib/minio/disk1, /var/lib/minio/disk2, /var/lib/minio/disk3]\n"},
         "every host of the group must have the same number of drives"),
        (["-e", '{"minio_buckets": [{"name": "Bad_Name"}]}'], None, "minio_buckets[0] ('Bad_Name')"),
        (["-e", '{"minio_users": [{"name": "app", "secret": "long-enough-secret", "policies": ["nope"]}]}'], None,
         "minio_users[0] ('app')"),
        (["-e", "minio_server_version=DEVELOPMENT.2099-01-01T00-00-00Z"], None,
         "minio_server_sha256 must be set for minio_server_version 'DEVELOPMENT.2099-01-01T00-00-00Z'"),
    ],
    ids=["no-root-password", "unequal-drives", "bad-bucket", "unknown-policy", "unpinned-version"],
)
def test_bad_variables_stop_the_play_before_any_change(host, extra, host_vars, expected):
    before = _started(host)
    res = _converge(*extra, host_vars=host_vars)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert expected in " ".join(out.split()), out[-3000:]
    for name in ("minio-1", "minio-2"):
        assert re.search(rf"{name}\s*:.*changed=0", out), out[-2000:]
    assert _started(host) == before
    assert "long-enough-secret" not in out


def test_a_binary_other_than_the_pinned_one_is_refused(host):
    # what a mirror that swapped the binary looks like to the role: bytes whose SHA-256 is not
    # the one expected (here the expectation is changed instead of the bytes)
    installed = host.run("sha256sum /usr/local/bin/minio").stdout.split()[0]
    before = _started(host)
    res = _converge("-e", "minio_server_sha256=" + "0" * 64)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "did not match" in " ".join(out.split()), out[-3000:]
    assert host.run("sha256sum /usr/local/bin/minio").stdout.split()[0] == installed
    assert _started(host) == before
