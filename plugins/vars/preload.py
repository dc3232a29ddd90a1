# Copyright: groundwork.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load the Jinja filter and test plugins once, in the controller's main process."""
from __future__ import annotations

DOCUMENTATION = r"""
name: preload
version_added: "0.1.0"
short_description: Load Jinja filters and tests once, before Ansible forks a worker per task
description:
  - Adds no variables. The first time Ansible asks it for variables (in the controller's main
    process, before the first task), it loads every filter and test plugin shipped with
    ansible-core, and the collection filters and tests that this collection's roles use
    (the filters C(ansible.utils.ipwrap), C(ansible.utils.ipaddr), C(community.general.dict_kv),
    C(community.general.counter) and the test C(ansible.utils.ip_address)).
  - Ansible forks a worker process for every task and host. Without this plugin each worker
    imports those plugins again the first time it templates a filter (for C(ansible.utils.ipwrap)
    that means importing netaddr and every ansible.utils filter file); with it, the workers
    inherit them from the main process. C(docs/benchmarks.md) in the source repository has the
    measurement.
  - A plugin that fails to load is left to the worker that needs it, which reports the error as
    it would without this plugin.
  - Enable it next to the default vars plugin, for example in C(ansible.cfg)
    C([defaults] vars_plugins_enabled = host_group_vars, groundwork.platform.preload).
options:
  stage:
    ini:
      - key: stage
        section: vars_groundwork_platform_preload
    env:
      - name: ANSIBLE_VARS_PLUGIN_STAGE
extends_documentation_fragment:
  - vars_plugin_staging
"""

from ansible.plugins.vars import BaseVarsPlugin
from ansible.utils.display import Display

display = Display()

# The collection filters and tests the roles of groundwork.platform use (grep roles/ playbooks/).
COLLECTION_PLUGINS = (
    ("filter", "ansible.utils.ipwrap"),
    ("filter", "ansible.utils.ipaddr"),
    ("filter", "community.general.dict_kv"),
    ("filter", "community.general.counter"),
    ("test", "ansible.utils.ip_address"),
)


def preload(filter_loader, test_loader, names=COLLECTION_PLUGINS):
    """Load every filter and test plugin of ansible-core and the named collection plugins
    ((kind, name) pairs); return the names of what was loaded."""
    loaders = {"filter": filter_loader, "test": test_loader}
    loaded = []
    for kind, loader in loaders.items():
        try:
            loaded.extend(plugin.ansible_name for plugin in loader.all())
        # a plugin that fails here is reported by the worker that needs it
        except Exception as exc:  # pylint: disable=broad-exception-caught
            display.vvv(f"groundwork.platform.preload: {kind} plugins not preloaded: {exc}")
    for kind, name in names:
        try:
            if loaders[kind].get(name) is not None:
                loaded.append(name)
            else:
                display.vvv(f"groundwork.platform.preload: no {kind} {name}")
        except Exception as exc:  # pylint: disable=broad-exception-caught
            display.vvv(f"groundwork.platform.preload: {kind} {name} not preloaded: {exc}")
    return loaded


class VarsModule(BaseVarsPlugin):
    """Returns no variables; preloads the Jinja plugins on its first call."""

    _done = False

    def get_vars(self, loader, path, entities, cache=True):
        super().get_vars(loader, path, entities)
        if not VarsModule._done:
            VarsModule._done = True
            from ansible.plugins.loader import filter_loader, test_loader  # pylint: disable=import-outside-toplevel

            names = preload(filter_loader, test_loader)
            ours = sum(name in names for kind, name in COLLECTION_PLUGINS)
            display.vvv(f"groundwork.platform.preload: {len(names)} Jinja plugins loaded before the workers fork, "
                        f"{ours} of the {len(COLLECTION_PLUGINS)} collection filters and tests the roles use")
        return {}
