# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the kafka_* modules share: their connection options and how they run Kafka's CLI tools.

The modules talk to Kafka through the distribution's own tools on the target (a JVM per call),
so each reads once and changes in as few calls as it can; the decisions are in the modules'
``_kafka_*_plan`` files.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


def connection_argument_spec():
    """The options every kafka_* module takes to reach the cluster."""
    return dict(
        bootstrap_server=dict(type="str", required=True),
        command_config=dict(type="path"),
        kafka_home=dict(type="path", default="/opt/kafka/current"),
        environment=dict(type="dict", default={}),
    )


class KafkaCli(object):
    """The Kafka distribution under kafka_home, for one module run; failures end the module."""

    def __init__(self, module, name, tools):
        self.module = module
        self.name = name
        self.home = module.params["kafka_home"]
        for tool in tools:
            path = os.path.join(self.home, tool)
            if not os.access(path, os.X_OK):
                module.fail_json(msg="%s: %s is missing or not executable (kafka_home)" % (name, path))

    def connection(self):
        """--bootstrap-server (or --bootstrap-controller, for a module that offers it) and, when
        given, --command-config."""
        controller = self.module.params.get("bootstrap_controller")
        args = ["--bootstrap-controller", controller] if controller else ["--bootstrap-server", self.module.params["bootstrap_server"]]
        if self.module.params["command_config"]:
            args += ["--command-config", self.module.params["command_config"]]
        return args

    def tool(self, relative):
        return os.path.join(self.home, relative)

    def run(self, argv, what):
        """Run argv; its stdout, or fail the module naming what failed and the tool's last words."""
        rc, out, err = self.module.run_command(argv, environ_update=dict(self.module.params["environment"]), check_rc=False)
        if rc != 0:
            self.module.fail_json(msg="%s: %s failed (rc %d): %s" % (self.name, what, rc, (err or out).strip()[-2000:]))
        return out
