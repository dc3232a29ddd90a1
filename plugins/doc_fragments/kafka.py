# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    # The connection options of the kafka_* modules (module_utils/_kafka_cli.py).
    DOCUMENTATION = r"""
options:
  bootstrap_server:
    description: Broker listener to talk to, C(HOST:PORT).
    type: str
    required: true
  command_config:
    description:
      - Client properties file (security.protocol, SASL and TLS settings) passed to the tools with
        C(--command-config). It holds credentials, so keep it readable by root only. The principal
        it authenticates as must be allowed to make the module's changes (the kafka role uses its
        admin user, a super user).
    type: path
  kafka_home:
    description: Directory of the Kafka distribution (with bin/ and libs/).
    type: path
    default: /opt/kafka/current
  environment:
    description: Extra environment for the tools (C(JAVA_HOME), C(KAFKA_HEAP_OPTS)...).
    type: dict
    default: {}
requirements:
  - A Kafka 4.x distribution (bin/kafka-topics.sh, bin/kafka-run-class.sh, libs/) and a Java runtime on the target.
"""
