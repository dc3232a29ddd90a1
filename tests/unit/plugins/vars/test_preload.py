"""plugins/vars/preload.py: loads the Jinja plugins once in the main process, adds no variables."""
import os
import pathlib
import subprocess
import sys

from ansible_collections.groundwork.platform.plugins.vars import preload as preload_plugin

ROOT = pathlib.Path(__file__).resolve().parents[4]


class Plugin:
    def __init__(self, name):
        self.ansible_name = name


class Loader:
    """A filter or test loader that knows some plugins and fails on others."""

    def __init__(self, kind, names=(), broken=(), all_fails=False):
        self.type, self.names, self.broken, self.all_fails = kind, names, broken, all_fails

    def all(self):
        if self.all_fails:
            raise RuntimeError("a broken plugin path")
        return [Plugin(n) for n in self.names]

    def get(self, name):
        if name in self.broken:
            raise ImportError(f"no module for {name}")
        return Plugin(name) if name.startswith("ansible.utils.") else None


def test_loads_every_plugin_and_the_named_filters():
    filters = Loader("filter", ["ansible.builtin.to_json", "ansible.builtin.b64decode"])
    tests = Loader("test", ["ansible.builtin.match"])
    loaded = preload_plugin.preload(filters, tests, names=(("filter", "ansible.utils.ipwrap"), ("filter", "community.general.counter")))
    # community.general.counter is unknown to this loader (get returns None): not reported as loaded
    assert loaded == ["ansible.builtin.to_json", "ansible.builtin.b64decode", "ansible.builtin.match", "ansible.utils.ipwrap"]


def test_a_plugin_that_fails_to_load_is_left_to_the_worker():
    filters = Loader("filter", all_fails=True)
    tests = Loader("test", ["ansible.builtin.match"])
    loaded = preload_plugin.preload(filters, tests, names=(("filter", "ansible.utils.ipwrap"), ("test", "ansible.utils.ip_address")))
    assert loaded == ["ansible.builtin.match", "ansible.utils.ipwrap", "ansible.utils.ip_address"]
    filters.broken = ("ansible.utils.ipwrap",)
    assert preload_plugin.preload(filters, tests, names=(("filter", "ansible.utils.ipwrap"),)) == ["ansible.builtin.match"]


def test_the_project_config_enables_it_and_it_loads_the_roles_filters():
    """Through ansible-inventory with the project's ansible.cfg: the plugin runs in the main
    process, finds every collection filter it names, and adds no variable to a host."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build" / "collections"),
               ANSIBLE_NOCOLOR="1")
    inventory = str(pathlib.Path(sys.executable).parent / "ansible-inventory")
    out = subprocess.run([inventory, "-i", "somehost,", "--host", "somehost", "-vvv"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    count = len(preload_plugin.COLLECTION_PLUGINS)
    assert f"{count} of the {count} collection filters and tests the roles use" in out.stdout + out.stderr
    without = subprocess.run([inventory, "-i", "somehost,", "--host", "somehost"], cwd=ROOT, capture_output=True, text=True,
                             env=dict(env, ANSIBLE_VARS_ENABLED="host_group_vars"), timeout=120, check=False)
    assert without.returncode == 0, without.stderr
    assert out.stdout.endswith(without.stdout)
