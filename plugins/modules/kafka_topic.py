#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kafka_topic
short_description: Declare Kafka topics (partitions, replication factor, configs) idempotently
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Makes a set of Kafka topics match a declaration in one run. It creates missing topics, grows
    the partition count, sets (and optionally removes) topic config overrides and, only with
    O(allow_delete), deletes topics declared C(absent).
  - Talks to the cluster through the admin protocol with the Kafka CLI tools of the installed
    Kafka distribution (C(kafka-topics.sh) and the class C(kafka.admin.ConfigCommand) through
    C(kafka-run-class.sh)), so it needs no Python Kafka client and runs on a Kafka host (or any
    host with the distribution and a JRE). It reads the state with C(--describe) and parses it.
  - "Refused, before anything is changed, with an error naming the topic and O(var_name): a
    partition decrease (Kafka cannot remove partitions) and a replication-factor change (that is
    a partition reassignment, C(kafka-reassign-partitions.sh), which this module does not do).
    Bad input (unknown keys, a replication factor above O(broker_count), retention below -1,
    C(min.insync.replicas) above the replication factor) is refused the same way."
  - Config overrides that are not declared are left alone unless O(purge_configs).
  - The decision logic lives in C(plugins/module_utils/_kafka_topic_plan.py) as pure functions.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - groundwork.platform.kafka
attributes:
  check_mode:
    support: full
    details: Reads the cluster's state and reports the plan without changing anything.
  diff_mode:
    support: full
    details: Shows partitions, replication factor and config overrides of the declared topics before and after.
  platform:
    platforms: posix
options:
  topics:
    description:
      - The topics. Each is a mapping with C(name) (required), C(partitions) (default 1),
        C(replication_factor) (default min(3, O(broker_count))), C(configs) (a mapping of topic
        configs such as C(retention.ms), C(cleanup.policy), C(min.insync.replicas); a list value
        is joined with commas) and C(state) (V(present) or V(absent)).
      - Topics that are not listed are never touched.
    type: list
    elements: dict
    required: true
  broker_count:
    description: Number of brokers of the cluster; a replication factor above it is refused.
    type: int
    required: true
  purge_configs:
    description: Remove config overrides of a declared topic that the declaration does not list.
    type: bool
    default: false
  allow_delete:
    description:
      - Delete the existing topics declared C(state=absent). Deleting a topic deletes its data, so
        without this a topic that exists and is declared absent is refused (with an error naming
        it) before anything is changed; a topic that does not exist is fine either way.
    type: bool
    default: false
  var_name:
    description: Name of the variable the topics come from, used in error messages.
    type: str
    default: topics
notes:
  - Each tool call starts a JVM (a few seconds); the module reads all topics with two calls and
    makes one call per change.
  - A topic deleted and created again in the same run is not supported; delete it in one run
    and declare it in the next.
seealso:
  - name: Kafka topic configs
    description: The topic-level configuration reference.
    link: https://kafka.apache.org/documentation/#topicconfigs
"""

EXAMPLES = r"""
- name: Declare the platform's topics
  groundwork.platform.kafka_topic:
    bootstrap_server: "10.0.0.11:9092"
    command_config: /etc/kafka/admin-client.properties
    broker_count: 3
    var_name: kafka_topics
    topics:
      - name: camera-events
        partitions: 6
        replication_factor: 2
        configs: {retention.ms: 604800000, min.insync.replicas: 1}
  run_once: true
  no_log: false

- name: Delete a topic and its data (an explicit second yes)
  groundwork.platform.kafka_topic:
    bootstrap_server: "10.0.0.11:9092"
    command_config: /etc/kafka/admin-client.properties
    broker_count: 3
    topics:
      - name: old-events
        state: absent
    allow_delete: true
  run_once: true
  no_log: false
"""

RETURN = r"""
topics:
  description: What was (or, in check mode, would be) done to each declared topic.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: camera-events, action: update, changes: ["partitions 3 -> 6"], add_partitions: 6,
       set_configs: {}, delete_configs: []}
commands:
  description: Descriptions of the tool calls made (or planned in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["grow topic camera-events to 6 partitions"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.platform.plugins.module_utils._kafka_topic_plan import (
    CONFIG_COMMAND_CLASS,
    TopicPlanError,
    commands,
    parse_configs_describe,
    parse_topics_describe,
    plan,
    validate_topics,
)
from ansible_collections.groundwork.platform.plugins.module_utils._kafka_cli import KafkaCli, connection_argument_spec


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        topics=dict(type="list", elements="dict", required=True),
        broker_count=dict(type="int", required=True),
        purge_configs=dict(type="bool", default=False),
        allow_delete=dict(type="bool", default=False),
        var_name=dict(type="str", default="topics"),
    )
    return spec


def run_module(module):
    p = module.params
    try:
        declared = validate_topics(p["topics"], p["broker_count"], var_name=p["var_name"])
    except TopicPlanError as exc:
        module.fail_json(msg="kafka_topic: %s" % exc)
    cli = KafkaCli(module, "kafka_topic", ["bin/kafka-topics.sh", "bin/kafka-run-class.sh"])
    topics_out = cli.run([cli.tool("bin/kafka-topics.sh")] + cli.connection() + ["--describe", "--exclude-internal"],
                         "describing the topics")
    configs_out = cli.run([cli.tool("bin/kafka-run-class.sh"), CONFIG_COMMAND_CLASS] + cli.connection()
                          + ["--describe", "--entity-type", "topics"], "describing the topic configs")
    try:
        planned = plan(declared, parse_topics_describe(topics_out), parse_configs_describe(configs_out),
                       var_name=p["var_name"], purge_configs=p["purge_configs"], allow_delete=p["allow_delete"])
    except TopicPlanError as exc:
        module.fail_json(msg="kafka_topic: %s" % exc)
    todo = commands(planned, cli.home, p["bootstrap_server"], p["command_config"])
    result = dict(changed=planned["changed"], topics=planned["topics"], commands=[description for description, _argv in todo])
    if module._diff:
        result["diff"] = planned["diff"]
    if not module.check_mode:
        for what, argv in todo:
            cli.run(argv, what)
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module)


if __name__ == "__main__":
    main()
