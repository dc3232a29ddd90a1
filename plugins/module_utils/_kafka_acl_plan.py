# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decision logic of the kafka_acl module: no I/O, no clock, no randomness.

- validate_acls(): checks the declaration before anything is read from or sent to Kafka;
- parse_acl_list(): ``AclCommand --list`` output -> a set of ACL keys
  (resource_type, resource_name, pattern_type, principal, host, operation, permission),
  each field as the tool prints it (TOPIC, camera-events, LITERAL, User:app, *, READ, ALLOW);
- plan(): declared vs listed -> the missing ACLs, grouped so that one ``AclCommand --add``
  covers all operations of one (principal, host, permission, resource, pattern type);
- commands(): the plan -> argv lists for ``kafka-run-class.sh org.apache.kafka.tools.AclCommand``.

ACLs are only ever added: an ACL that Kafka has and the declaration does not name is kept.

The parser is tested against output recorded from a real Kafka 4.3.1 broker
(tests/unit/fixtures/kafka-4.3.1/acls_list.txt, see its README for the exact command).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

ACL_COMMAND_CLASS = "org.apache.kafka.tools.AclCommand"

# Kafka's AclOperation values (less UNKNOWN and ANY) in the PascalCase form AclCommand's
# --operation parses (SecurityUtils.operation: PascalCase, or the same upper-cased without
# underscores); --list prints them UPPER_SNAKE (AclOperation.name()).
OPERATIONS = ("All", "Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
              "DescribeConfigs", "AlterConfigs", "IdempotentWrite", "CreateTokens", "DescribeTokens")

# resource_type option value -> (ResourceType as --list prints it, AclCommand flag)
RESOURCE_TYPES = {
    "topic": ("TOPIC", "--topic"),
    "group": ("GROUP", "--group"),
    "cluster": ("CLUSTER", "--cluster"),
    "transactional-id": ("TRANSACTIONAL_ID", "--transactional-id"),
    "delegation-token": ("DELEGATION_TOKEN", "--delegation-token"),
}
# the one cluster resource, as --list names it
CLUSTER_NAME = "kafka-cluster"
PATTERN_TYPES = ("literal", "prefixed")
PERMISSIONS = ("allow", "deny")
KEYS = ("principal", "host", "permission", "resource_type", "resource_name", "pattern_type", "operations")

# The operations AclCommand accepts per resource type (AclEntry.supportedOperations, plus All);
# it refuses any other with "ResourceType X only supports operations ...". CreateTokens and
# DescribeTokens apply to the USER resource type only, which this module does not manage.
SUPPORTED = {
    "topic": ("All", "Read", "Write", "Create", "Describe", "Delete", "Alter", "DescribeConfigs", "AlterConfigs"),
    "group": ("All", "Read", "Describe", "Delete", "DescribeConfigs", "AlterConfigs"),
    "cluster": ("All", "Create", "ClusterAction", "DescribeConfigs", "AlterConfigs", "IdempotentWrite", "Alter",
                "Describe"),
    "transactional-id": ("All", "Describe", "Write"),
    "delegation-token": ("All", "Describe"),
}

PRINCIPAL = re.compile(r"^User:[^;\s]+$")
TOPIC_CHARS = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
HOST = re.compile(r"^(?:\*|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*)$")

_BY_KEY = dict((op.lower(), op) for op in OPERATIONS)


class AclPlanError(Exception):
    """Bad input or output that cannot be read; the message names the variable and index."""


def operation_name(value):
    """A declared operation in any case (Read, READ, read, IdempotentWrite, IDEMPOTENT_WRITE,
    idempotent-write) -> Kafka's PascalCase name, or None when Kafka has no such operation."""
    if not isinstance(value, str):
        return None
    return _BY_KEY.get(re.sub(r"[\s_-]", "", value).lower())


def operation_snake(name):
    """PascalCase operation -> the UPPER_SNAKE form --list prints (IdempotentWrite -> IDEMPOTENT_WRITE)."""
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).upper()


def _text(value):
    return value.strip() if isinstance(value, str) else value


def validate_acls(acls, var_name="kafka_acls"):
    """Check an ACL declaration; return it normalized.

    Each entry: principal (User:NAME, required), host (default ``*``), permission (allow/deny,
    default allow), resource_type (topic, group, cluster, transactional-id, delegation-token),
    resource_name (required except for cluster), pattern_type (literal/prefixed, default
    literal), operations (a non-empty list of Kafka operation names, in any case).

    Every problem is collected; one AclPlanError lists them all, each naming ``var_name[i]``.
    Normalized entries: the same keys with lower-case resource_type, pattern_type and
    permission, resource_name ``kafka-cluster`` for the cluster, operations in Kafka's PascalCase
    without duplicates (declared order), and index (the position in the list).
    """
    if not isinstance(acls, (list, tuple)):
        raise AclPlanError("%s must be a list of ACLs, got %s" % (var_name, type(acls).__name__))
    errors = []
    out = []
    for i, acl in enumerate(acls):
        ref = "%s[%d]" % (var_name, i)
        if not isinstance(acl, dict):
            errors.append("%s must be a mapping with principal, resource_type, resource_name and operations" % ref)
            continue
        problems = []
        unknown = sorted(str(k) for k in set(acl) - set(KEYS))
        if unknown:
            problems.append("unknown keys %s (known: %s)" % (", ".join(unknown), ", ".join(KEYS)))

        principal = acl.get("principal")
        if not isinstance(principal, str) or not PRINCIPAL.match(principal):
            problems.append("principal must be User:NAME (no spaces or ';'), got %r" % (principal,))

        host = acl.get("host", "*")
        if not isinstance(host, str) or not HOST.match(host):
            problems.append("host must be * or a client IP address (Kafka compares the client's address, "
                            "never a host name), got %r" % (host,))

        permission = _text(acl.get("permission", "allow"))
        if not isinstance(permission, str) or permission.lower() not in PERMISSIONS:
            problems.append("permission must be allow or deny, got %r" % (permission,))
            permission = None
        else:
            permission = permission.lower()

        pattern_type = _text(acl.get("pattern_type", "literal"))
        if not isinstance(pattern_type, str) or pattern_type.lower() not in PATTERN_TYPES:
            problems.append("pattern_type must be literal or prefixed, got %r" % (pattern_type,))
            pattern_type = None
        else:
            pattern_type = pattern_type.lower()

        resource_type = _text(acl.get("resource_type"))
        if not isinstance(resource_type, str) or resource_type.lower() not in RESOURCE_TYPES:
            problems.append("resource_type must be one of %s, got %r" % (", ".join(RESOURCE_TYPES), resource_type))
            resource_type = None
        else:
            resource_type = resource_type.lower()

        resource_name = acl.get("resource_name")
        if resource_type == "cluster":
            if resource_name not in (None, "", CLUSTER_NAME):
                problems.append("resource_name must be left out for the cluster (it is %s), got %r"
                                % (CLUSTER_NAME, resource_name))
            resource_name = CLUSTER_NAME
            if pattern_type == "prefixed":
                problems.append("pattern_type must be literal for the cluster")
        elif resource_type is not None:
            if not isinstance(resource_name, str) or not resource_name:
                problems.append("resource_name is required for resource_type %s (a string; quote a numeric name), got %r"
                                % (resource_type, resource_name))
                resource_name = None
            elif resource_name != resource_name.strip() or "\n" in resource_name:
                problems.append("resource_name must not start or end with spaces or hold a line break, got %r"
                                % (resource_name,))
            elif resource_type == "topic" and resource_name != "*" and not TOPIC_CHARS.match(resource_name):
                problems.append("resource_name of a topic must be * or 1-249 letters, digits, '.', '_' or '-', got %r"
                                % (resource_name,))

        operations = acl.get("operations")
        names = []
        if not isinstance(operations, (list, tuple)) or not operations:
            problems.append("operations must be a non-empty list of Kafka operations (%s), got %r"
                            % (", ".join(OPERATIONS), operations))
        else:
            for op in operations:
                name = operation_name(op)
                if name is None:
                    problems.append("operation %r is not a Kafka operation (%s)" % (op, ", ".join(OPERATIONS)))
                elif resource_type is not None and name not in SUPPORTED[resource_type]:
                    problems.append("operation %s does not apply to resource_type %s (Kafka accepts %s)"
                                    % (name, resource_type, ", ".join(SUPPORTED[resource_type])))
                elif name not in names:
                    names.append(name)

        if problems:
            errors.extend("%s: %s" % (ref, p) for p in problems)
            continue
        out.append({"principal": principal, "host": host, "permission": permission,
                    "resource_type": resource_type, "resource_name": resource_name,
                    "pattern_type": pattern_type, "operations": names, "index": i})
    if errors:
        raise AclPlanError("; ".join(errors))
    return out


# --- parser -------------------------------------------------------------------------------

_BLOCK = re.compile(r"^Current ACLs for resource `ResourcePattern\(resourceType=(?P<type>[A-Z_]+), "
                    r"name=(?P<name>.*), patternType=(?P<pattern>[A-Z_]+)\)`:\s*$")
# host and the rest hold no ', '; the principal (a KafkaPrincipal string) may
_ENTRY = re.compile(r"^\s+\(principal=(?P<principal>.+), host=(?P<host>[^,\s]*), operation=(?P<op>[A-Z_]+), "
                    r"permissionType=(?P<perm>[A-Z]+)\)\s*$")


def parse_acl_list(text):
    """Output of ``AclCommand --list`` (no resource option: every resource pattern) -> set of
    (resource_type, resource_name, pattern_type, principal, host, operation, permission), as
    the tool prints them, e.g. ("TOPIC", "camera-events", "LITERAL", "User:app", "*", "READ", "ALLOW").

    Kafka 4.3.1 prints one block per resource pattern (recorded):
    ``Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=camera-events, patternType=LITERAL)`:``
    then one ``<TAB>(principal=User:app, host=*, operation=READ, permissionType=ALLOW)`` line per
    ACL and a blank line. Other lines (warnings of the tool) are ignored; a block header or an
    ACL line that does not parse, or an ACL line outside a block, raises AclPlanError.
    """
    out = set()
    current = None
    for raw in (text or "").splitlines():
        if not raw.strip():
            continue
        if raw.startswith("Current ACLs for resource"):
            m = _BLOCK.match(raw)
            if not m:
                raise AclPlanError("cannot parse this AclCommand --list line: %r" % raw)
            current = (m.group("type"), m.group("name"), m.group("pattern"))
            continue
        if raw.lstrip().startswith("(principal="):
            e = _ENTRY.match(raw)
            if not e:
                raise AclPlanError("cannot parse this AclCommand --list line: %r" % raw)
            if current is None:
                raise AclPlanError("ACL line before any resource in the AclCommand --list output: %r" % raw)
            out.add(current + (e.group("principal"), e.group("host"), e.group("op"), e.group("perm")))
    return out


# --- the plan -----------------------------------------------------------------------------

def resource_pattern(acl):
    """A validated ACL -> its resource pattern as --list prints it: (TOPIC, camera-events, LITERAL)."""
    return (RESOURCE_TYPES[acl["resource_type"]][0], acl["resource_name"], acl["pattern_type"].upper())


def acl_key(acl, operation):
    """A validated ACL (validate_acls) and one of its operations -> the key parse_acl_list gives."""
    return resource_pattern(acl) + (acl["principal"], acl["host"], operation_snake(operation),
                                    acl["permission"].upper())


def _render_key(key):
    rtype, name, pattern, principal, host, op, perm = key
    return "%s %s %s: %s %s %s from %s" % (rtype, name, pattern, perm, principal, op, host)


def plan(declared, present):
    """Compare validated ACLs (validate_acls) with what Kafka has (parse_acl_list).

    A declared ACL counts as present only with the same resource type, name and pattern type,
    principal, host, operation and permission (the same principal and operation on another
    resource, another pattern type, another host or with the other permission do not count).

    Returns {"changed", "add": [...], "diff": {"before", "after"}}; each add entry is one group
    (one AclCommand call): principal, host, permission, resource_type, resource_name,
    pattern_type, operations (PascalCase, the missing ones only, declared order) and indexes
    (the positions of the declaring entries). Groups are in the order they are first declared.
    Nothing is ever removed.
    """
    groups = {}
    order = []
    seen = set()
    touched = set()
    for acl in declared:
        gkey = (acl["principal"], acl["host"], acl["permission"], acl["resource_type"], acl["resource_name"],
                acl["pattern_type"])
        touched.add(resource_pattern(acl))
        for op in acl["operations"]:
            key = acl_key(acl, op)
            if key in present or key in seen:
                continue
            seen.add(key)
            if gkey not in groups:
                groups[gkey] = {"principal": acl["principal"], "host": acl["host"], "permission": acl["permission"],
                                "resource_type": acl["resource_type"], "resource_name": acl["resource_name"],
                                "pattern_type": acl["pattern_type"], "operations": [], "indexes": []}
                order.append(gkey)
            group = groups[gkey]
            group["operations"].append(op)
            if acl["index"] not in group["indexes"]:
                group["indexes"].append(acl["index"])
    add = [groups[g] for g in order]
    # the diff shows the ACLs of the declared resource patterns only
    before = sorted(k for k in present if k[:3] in touched)
    after = sorted(set(before) | seen)
    return {"changed": bool(add), "add": add,
            "diff": {"before": _render(before), "after": _render(after)}}


def _render(keys):
    lines = [_render_key(k) for k in keys]
    return "\n".join(lines) + ("\n" if lines else "")


# --- commands -----------------------------------------------------------------------------

def describe(group):
    """One add group -> a human-readable line."""
    where = "the cluster" if group["resource_type"] == "cluster" else "%s %s %s" % (
        group["pattern_type"], group["resource_type"], group["resource_name"])
    return "%s %s from %s: %s on %s" % (group["permission"], group["principal"], group["host"],
                                        ", ".join(group["operations"]), where)


def commands(planned, kafka_home, connection):
    """The plan -> [(description, argv)] for the tools under kafka_home; ``connection`` is the
    tools' connection arguments (``--bootstrap-server HOST:PORT`` or ``--bootstrap-controller
    HOST:PORT,...``, then ``--command-config FILE`` when there is one).

    Each AclCommand call starts a JVM, so add groups that differ only in their resource (same
    principal, host, permission, pattern type and operations) share one call: AclCommand adds
    every operation for the principal to every --topic/--group/--cluster/... it is given.
    """
    base = ["%s/bin/kafka-run-class.sh" % kafka_home, ACL_COMMAND_CLASS] + list(connection)
    calls = {}
    order = []
    for g in planned["add"]:
        key = (g["principal"], g["host"], g["permission"], g["pattern_type"], tuple(g["operations"]))
        if key not in calls:
            calls[key] = []
            order.append(key)
        calls[key].append(g)
    out = []
    for key in order:
        groups = calls[key]
        g = groups[0]
        argv = base + ["--add", "--%s-principal" % g["permission"], g["principal"],
                       "--%s-host" % g["permission"], g["host"]]
        for op in g["operations"]:
            argv += ["--operation", op]
        argv += ["--resource-pattern-type", g["pattern_type"]]
        for r in groups:
            flag = RESOURCE_TYPES[r["resource_type"]][1]
            argv += [flag] if r["resource_type"] == "cluster" else [flag, r["resource_name"]]
        out.append(("; ".join(describe(r) for r in groups), argv))
    return out
