#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kafka_acl
short_description: Add missing Kafka ACLs idempotently, with few tool calls
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Makes sure every declared Kafka ACL exists. It reads all ACLs with one
    C(org.apache.kafka.tools.AclCommand --list), compares them with the declaration and adds the
    missing ones.
  - Only adds. ACLs that Kafka has and the declaration does not name are never removed (remove
    them with C(AclCommand --remove) by hand), and a declared ACL that is dropped from the list
    later stays in Kafka.
  - One C(AclCommand --add) call adds all missing operations of one group of principal, host,
    permission, resource and pattern type (one C(--operation) per operation); groups that differ
    only in their resource (the same missing operations) share one call with several resource
    options. Each call starts a JVM (a few seconds).
  - Talks to the cluster through the admin protocol with the Kafka CLI tools of the installed
    Kafka distribution (the class C(org.apache.kafka.tools.AclCommand) through
    C(kafka-run-class.sh)), so it needs no Python Kafka client and runs on a Kafka host (or any
    host with the distribution and a JRE).
  - "A declared ACL counts as present only when Kafka has an ACL with the same resource type,
    resource name, pattern type, principal, host, operation and permission: the same principal
    and operation on another resource, with the other pattern type, from another host or with
    the other permission does not count, and neither does an C(All) ACL for a declared C(Read)."
  - "Bad input (unknown keys, a principal not of the form C(User:NAME), an unknown resource type,
    pattern type, permission or operation, an operation Kafka does not accept for the resource
    type, a missing resource name) is refused before any tool runs, with an error naming
    O(var_name) and the index of the entry."
  - The decision logic lives in C(plugins/module_utils/_kafka_acl_plan.py) as pure functions.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - groundwork.platform.kafka
attributes:
  check_mode:
    support: full
    details: Reads the ACLs with C(--list) and reports the planned additions and commands without running them.
  diff_mode:
    support: full
    details: Shows the ACLs of the declared resource patterns before and after.
  platform:
    platforms: posix
options:
  acls:
    description:
      - The ACLs. Each is a mapping with C(principal) (required, C(User:NAME)), C(resource_type)
        (required, V(topic), V(group), V(cluster), V(transactional-id) or V(delegation-token)),
        C(resource_name) (required except for the cluster, whose name is C(kafka-cluster)),
        C(pattern_type) (V(literal), the default, or V(prefixed); the cluster takes literal
        only), C(operations) (a non-empty list), C(permission) (V(allow), the default, or
        V(deny)) and C(host) (the client IP address the ACL applies to; default C(*), any address).
      - "Operations are Kafka's: C(All), C(Read), C(Write), C(Create), C(Delete), C(Alter),
        C(Describe), C(ClusterAction), C(DescribeConfigs), C(AlterConfigs), C(IdempotentWrite),
        C(CreateTokens), C(DescribeTokens), in any case and with or without underscores
        (C(IdempotentWrite), C(IDEMPOTENT_WRITE) and C(idempotent_write) are the same).
        Each must apply to the resource type, as Kafka's C(AclCommand) requires (for example
        C(IdempotentWrite) and C(ClusterAction) only on the cluster; C(CreateTokens) and
        C(DescribeTokens) only on user resources, which this module does not manage)."
      - ACLs that are not listed are never removed.
    type: list
    elements: dict
    required: true
  bootstrap_server:
    description:
      - Broker listener to talk to, C(HOST:PORT). One of O(bootstrap_server) and
        O(bootstrap_controller) is required.
    required: false
  bootstrap_controller:
    description:
      - The controllers' listeners instead of a broker's, C(HOST:PORT,HOST:PORT) (C(AclCommand
        --bootstrap-controller)). For ACLs that must exist before a broker can start, such as a
        broker's own C(ClusterAction) on the cluster; O(command_config) then holds the controller
        listener's client settings.
    type: str
  var_name:
    description: Name of the variable the ACLs come from, used in error messages.
    type: str
    default: acls
notes:
  - Each tool call starts a JVM (a few seconds); the module reads all ACLs with one call and makes
    one call per principal, host, permission, pattern type and set of missing operations (nothing
    when all are present).
  - An empty O(acls) list runs no tool at all.
seealso:
  - name: Kafka authorization and ACLs
    description: The operations and resources of Kafka's authorizer and the kafka-acls tool.
    link: https://kafka.apache.org/documentation/#security_authz
"""

EXAMPLES = r"""
- name: Declare the platform's ACLs
  groundwork.platform.kafka_acl:
    bootstrap_server: "10.0.0.11:9092"
    command_config: /etc/kafka/admin-client.properties
    var_name: kafka_acls
    acls:
      - {principal: "User:app", resource_type: topic, resource_name: camera-events, operations: [Read, Write, Describe]}
      - {principal: "User:app", resource_type: group, resource_name: app-, pattern_type: prefixed, operations: [Read]}
      - {principal: "User:app", resource_type: cluster, operations: [IdempotentWrite]}
      - principal: "User:stranger"
        resource_type: topic
        resource_name: alerts
        permission: deny
        host: 127.0.0.1
        operations: [DescribeConfigs]
  run_once: true
"""

RETURN = r"""
acls_added:
  description:
    - The ACLs that were (or, in check mode, would be) added, one entry per C(AclCommand --add) call
      (one group of principal, host, permission, resource and pattern type with its missing operations).
    - C(indexes) are the positions in O(acls) of the entries that declared them.
  returned: always
  type: list
  elements: dict
  sample:
    - {principal: "User:app", host: "*", permission: allow, resource_type: topic, resource_name: camera-events,
       pattern_type: literal, operations: [Write, Describe], indexes: [0]}
commands:
  description: Descriptions of the tool calls made (or planned in check mode), in order, one per entry of RV(acls_added).
  returned: always
  type: list
  elements: str
  sample: ["allow User:app from *: Write, Describe on literal topic camera-events"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.platform.plugins.module_utils._kafka_acl_plan import (
    ACL_COMMAND_CLASS,
    AclPlanError,
    commands,
    parse_acl_list,
    plan,
    validate_acls,
)
from ansible_collections.groundwork.platform.plugins.module_utils._kafka_cli import KafkaCli, connection_argument_spec


def argument_spec():
    spec = connection_argument_spec()
    spec["bootstrap_server"]["required"] = False
    spec.update(
        bootstrap_controller=dict(type="str"),
        acls=dict(type="list", elements="dict", required=True),
        var_name=dict(type="str", default="acls"),
    )
    return spec


def run_module(module):
    p = module.params
    try:
        declared = validate_acls(p["acls"], var_name=p["var_name"])
    except AclPlanError as exc:
        module.fail_json(msg="kafka_acl: %s" % exc)
    if not declared:
        module.exit_json(changed=False, acls_added=[], commands=[])
    cli = KafkaCli(module, "kafka_acl", ["bin/kafka-run-class.sh"])
    listed = cli.run([cli.tool("bin/kafka-run-class.sh"), ACL_COMMAND_CLASS] + cli.connection() + ["--list"], "listing the ACLs")
    try:
        planned = plan(declared, parse_acl_list(listed))
    except AclPlanError as exc:
        module.fail_json(msg="kafka_acl: %s" % exc)
    todo = commands(planned, cli.home, cli.connection())
    result = dict(changed=planned["changed"], acls_added=planned["add"],
                  commands=[description for description, _argv in todo])
    if module._diff:
        result["diff"] = planned["diff"]
    if not module.check_mode:
        for what, cmd in todo:
            cli.run(cmd, "adding ACLs (%s)" % what)
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[("bootstrap_server", "bootstrap_controller")],
                           required_one_of=[("bootstrap_server", "bootstrap_controller")])
    run_module(module)


if __name__ == "__main__":
    main()
