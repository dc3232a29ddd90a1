# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decision logic of the kafka_topic module: no I/O, no clock, no randomness.

- validate_topics(): checks the declaration before anything is read from or sent to Kafka;
- parse_topics_describe(): ``kafka-topics.sh --describe`` output -> topics, partitions, RF;
- parse_configs_describe(): ``kafka-configs.sh --describe --entity-type topics`` (class
  kafka.admin.ConfigCommand) output -> the topics' dynamic (overridden) configs;
- plan(): declared vs actual -> what to create, grow, reconfigure or delete, refusing a
  partition decrease and a replication-factor change with an error naming the topic and the
  variable;
- commands(): the plan -> argv lists for the Kafka CLI tools.

The parsers are tested against output recorded from a real Kafka 4.3.1 broker
(tests/unit/fixtures/kafka-4.3.1/, see its README for the exact commands).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
CONFIG_KEY = re.compile(r"^[a-z][a-z0-9._-]*$")
CLEANUP_POLICIES = frozenset(["delete", "compact"])
# configs whose value is a whole number >= -1 (-1: unlimited)
MIN_MINUS_ONE = ("retention.ms", "retention.bytes", "local.retention.ms", "local.retention.bytes")
# configs whose value is a whole number >= 0 / >= 1
MIN_ZERO = ("delete.retention.ms", "min.compaction.lag.ms", "max.compaction.lag.ms", "segment.ms",
            "flush.ms", "flush.messages", "file.delete.delay.ms", "max.message.bytes")
MIN_ONE = ("min.insync.replicas", "segment.bytes")
STATES = ("present", "absent")


class TopicPlanError(Exception):
    """Bad input or a refused change; the message names the topic and the variable."""


def normalize_value(value):
    """A config value as Kafka reports it: booleans lowercase, lists comma-joined, numbers as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(normalize_value(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _as_int(value):
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not re.match(r"^-?[0-9]+$", text):
        raise ValueError("not a whole number: %r" % (value,))
    return int(text)


def _ref(var_name, index, name):
    return "%s[%d] (%r)" % (var_name, index, name)


def validate_topics(topics, broker_count, var_name="kafka_topics", default_partitions=1,
                    default_replication_factor=None):
    """Check a topic declaration; return it normalized.

    Each entry: name (required), partitions, replication_factor, configs (mapping), state
    (present/absent). Every problem is collected; one TopicPlanError lists them all, each
    naming ``var_name[i] ('topic')`` and the field.
    """
    if not isinstance(topics, (list, tuple)):
        raise TopicPlanError("%s must be a list of topics, got %s" % (var_name, type(topics).__name__))
    try:
        broker_count = _as_int(broker_count)
    except ValueError:
        raise TopicPlanError("the broker count must be a whole number, got %r" % (broker_count,))
    if default_replication_factor is None:
        default_replication_factor = min(3, max(broker_count, 1))
    errors = []
    out = []
    seen = {}
    for i, topic in enumerate(topics):
        if not isinstance(topic, dict):
            errors.append("%s[%d] must be a mapping with at least a name" % (var_name, i))
            continue
        name = topic.get("name")
        ref = _ref(var_name, i, name)
        unknown = sorted(set(topic) - set(["name", "partitions", "replication_factor", "configs", "state"]))
        if unknown:
            errors.append("%s: unknown keys %s (known: name, partitions, replication_factor, configs, state)"
                          % (ref, ", ".join(unknown)))
        if not isinstance(name, str) or not TOPIC_NAME.match(name) or name in (".", ".."):
            errors.append("%s: name must be 1-249 letters, digits, '.', '_' or '-' (not '.' or '..')" % ref)
            continue
        if name in seen:
            errors.append("%s: topic declared twice (also %s[%d])" % (ref, var_name, seen[name]))
            continue
        seen[name] = i
        state = topic.get("state", "present")
        if state not in STATES:
            errors.append("%s: state must be present or absent, got %r" % (ref, state))
            continue
        entry = {"name": name, "state": state, "index": i}
        if state == "absent":
            out.append(entry)
            continue
        try:
            partitions = _as_int(topic.get("partitions", default_partitions))
            if partitions < 1:
                raise ValueError("below 1")
        except ValueError:
            errors.append("%s: partitions must be a whole number >= 1, got %r" % (ref, topic.get("partitions")))
            partitions = None
        try:
            rf = _as_int(topic.get("replication_factor", default_replication_factor))
            if rf < 1:
                raise ValueError("below 1")
            if rf > broker_count:
                errors.append("%s: replication_factor %d is above the number of brokers (%d)" % (ref, rf, broker_count))
                rf = None
        except ValueError:
            errors.append("%s: replication_factor must be a whole number >= 1, got %r"
                          % (ref, topic.get("replication_factor")))
            rf = None
        configs = topic.get("configs", {}) or {}
        norm = {}
        if not isinstance(configs, dict):
            errors.append("%s: configs must be a mapping of Kafka topic configs, got %s" % (ref, type(configs).__name__))
            configs = {}
        for key in sorted(configs):
            value = configs[key]
            cref = "%s: configs.%s" % (ref, key)
            if not isinstance(key, str) or not CONFIG_KEY.match(key):
                errors.append("%s: not a Kafka config name" % cref)
                continue
            if value is None or isinstance(value, dict):
                errors.append("%s: needs a scalar value (or a list for cleanup.policy), got %r" % (cref, value))
                continue
            text = normalize_value(value)
            problem = _config_problem(key, text, rf)
            if problem:
                errors.append("%s %s" % (cref, problem))
                continue
            norm[key] = text
        entry.update({"partitions": partitions, "replication_factor": rf, "configs": norm})
        out.append(entry)
    if errors:
        raise TopicPlanError("; ".join(errors))
    return out


def _config_problem(key, text, rf):
    try:
        if key in MIN_MINUS_ONE:
            if _as_int(text) < -1:
                return "must be -1 (unlimited) or a whole number >= 0, got %s" % text
        elif key in MIN_ZERO:
            if _as_int(text) < 0:
                return "must be a whole number >= 0, got %s" % text
        elif key in MIN_ONE:
            if _as_int(text) < 1:
                return "must be a whole number >= 1, got %s" % text
            if key == "min.insync.replicas" and rf is not None and _as_int(text) > rf:
                return "(%s) is above the topic's replication_factor (%d): no write with acks=all could succeed" % (text, rf)
    except ValueError:
        return "must be a whole number, got %r" % text
    if key == "cleanup.policy":
        policies = [p.strip() for p in text.split(",")]
        if not policies or any(p not in CLEANUP_POLICIES for p in policies) or len(set(policies)) != len(policies):
            return "must be delete, compact or both, got %r" % text
    if key == "unclean.leader.election.enable" and text not in ("true", "false"):
        return "must be true or false, got %r" % text
    return None


# --- parsers ------------------------------------------------------------------------------

def parse_config_list(text):
    """``k1=v1,k2=a,b`` (the Configs: field of kafka-topics --describe) -> dict.

    A comma-separated piece without '=' belongs to the previous value (cleanup.policy=compact,delete).
    """
    out = {}
    last = None
    text = (text or "").strip()
    if not text:
        return out
    for piece in text.split(","):
        if "=" in piece and CONFIG_KEY.match(piece.split("=", 1)[0].strip()):
            key, value = piece.split("=", 1)
            last = key.strip()
            out[last] = value.strip()
        elif last is not None:
            out[last] = out[last] + "," + piece.strip()
    return out


def _fields(line):
    """``Key: value<TAB>Key: value`` -> dict (values may be empty)."""
    out = {}
    for part in line.strip().split("\t"):
        if ":" in part:
            key, value = part.split(":", 1)
            out[key.strip()] = value.strip()
    return out


_HEADER = re.compile(r"^Topic:\s*(?P<name>\S+)\s+TopicId:\s*(?P<id>\S+)\s+PartitionCount:\s*(?P<partitions>\d+)"
                     r"\s+ReplicationFactor:\s*(?P<rf>\d+)\s+Configs:\s*(?P<configs>.*)$")


def _ids(text):
    return [int(x) for x in (text or "").split(",") if x.strip().lstrip("-").isdigit()]


def parse_topics_describe(text):
    """Output of ``kafka-topics.sh --describe`` -> {topic: {...}}.

    Each topic: topic_id, partitions (count), replication_factor, configs (the Configs: field),
    partition_details: [{partition, leader (None when offline), replicas, isr}].

    The Configs: field lists every config of the topic that is not a Kafka default: its overrides
    AND the broker's static settings (Kafka 4.3.1 prints e.g. ``min.insync.replicas=1,
    retention.ms=604800000,unclean.leader.election.enable=false`` for a topic whose only override
    is retention.ms). It is informational; the plan compares the overrides that
    parse_configs_describe() reads.
    """
    topics = {}
    current = None
    for raw in (text or "").splitlines():
        if not raw.strip():
            continue
        if raw.startswith("Topic:"):
            m = _HEADER.match(raw.strip())
            if not m:
                raise TopicPlanError("cannot parse this kafka-topics --describe line: %r" % raw)
            current = {
                "topic_id": m.group("id"),
                "partitions": int(m.group("partitions")),
                "replication_factor": int(m.group("rf")),
                "configs": parse_config_list(m.group("configs")),
                "partition_details": [],
            }
            topics[m.group("name")] = current
        elif raw[:1] in ("\t", " ") and "Partition:" in raw:
            f = _fields(raw)
            name = f.get("Topic")
            if name not in topics:
                raise TopicPlanError("partition line before its topic: %r" % raw)
            leader = f.get("Leader", "none")
            topics[name]["partition_details"].append({
                "partition": int(f["Partition"]),
                "leader": int(leader) if leader.lstrip("-").isdigit() and int(leader) >= 0 else None,
                "replicas": _ids(f.get("Replicas")),
                "isr": _ids(f.get("Isr")),
            })
        # other lines (warnings of the tool) are ignored
    return topics


_CONFIG_HEADER = re.compile(r"^(?:(?:Dynamic|All) )?[Cc]onfigs for topic '?(?P<name>[A-Za-z0-9._-]+)'? are:\s*$")
_CONFIG_ENTRY = re.compile(r"^\s+(?P<key>[a-z][a-z0-9._-]*)=(?P<value>.*?) sensitive=(?:true|false) synonyms=\{.*\}\s*$")


def parse_configs_describe(text):
    """Output of ``kafka-configs --describe --entity-type topics [--entity-name X]`` -> {topic: {key: value}}.

    Without ``--all`` the tool lists only the dynamic (overridden) configs of each topic, which is
    what the plan compares against. A topic without overrides appears with an empty dict.
    """
    out = {}
    current = None
    for raw in (text or "").splitlines():
        if not raw.strip():
            continue
        m = _CONFIG_HEADER.match(raw.strip())
        if m:
            current = out.setdefault(m.group("name"), {})
            continue
        e = _CONFIG_ENTRY.match(raw)
        if e and current is not None:
            current[e.group("key")] = e.group("value")
    return out


# --- the plan -----------------------------------------------------------------------------

def plan(declared, actual_topics, actual_configs=None, var_name="kafka_topics", purge_configs=False,
         allow_delete=False):
    """Compare validated topics (validate_topics) with what Kafka has.

    actual_topics: parse_topics_describe(); actual_configs: parse_configs_describe(), the topics'
    overrides (a topic missing from it, e.g. created between the two reads, counts as having none;
    the Configs: field of the topics' describe is NOT used: it also holds the broker's static
    settings, which are not overrides and must never be purged). Returns {"changed", "topics": [...],
    "diff": {"before", "after"}}; each topic: name, action (none, create, update, delete),
    changes (human-readable), add_partitions (new count or None), set_configs, delete_configs,
    and for create: partitions, replication_factor, configs.

    Raises TopicPlanError for a partition decrease or a replication-factor change, naming the
    topic and the variable, before any change is made (the whole plan is refused). A topic that
    exists and is declared absent is refused the same way unless allow_delete: deleting a topic
    deletes its data, so it takes a second, explicit yes.
    """
    actual_configs = actual_configs or {}
    errors = []
    results = []
    before = {}
    after = {}
    for t in declared:
        name = t["name"]
        ref = _ref(var_name, t.get("index", 0), name)
        have = actual_topics.get(name)
        have_configs = actual_configs.get(name, {})
        if have is not None:
            before[name] = {"partitions": have["partitions"], "replication_factor": have["replication_factor"],
                            "configs": dict(sorted(have_configs.items()))}
        if t["state"] == "absent":
            if have is None:
                results.append(_result(name, "none"))
            elif not allow_delete:
                errors.append("%s: the topic is declared absent, but it exists with %d partitions and deleting it "
                              "deletes their data; set allow_delete to delete it" % (ref, have["partitions"]))
            else:
                results.append(_result(name, "delete", ["delete the topic (and its data)"]))
            continue
        want_configs = dict(t["configs"])
        if have is None:
            after[name] = {"partitions": t["partitions"], "replication_factor": t["replication_factor"],
                           "configs": dict(sorted(want_configs.items()))}
            r = _result(name, "create", ["create with %d partitions, replication factor %d"
                                         % (t["partitions"], t["replication_factor"])])
            r.update({"partitions": t["partitions"], "replication_factor": t["replication_factor"],
                      "configs": want_configs})
            results.append(r)
            continue
        changes = []
        r = _result(name, "none")
        if t["partitions"] < have["partitions"]:
            errors.append("%s: partitions %d is below the topic's current %d: Kafka cannot remove partitions "
                          "(create a new topic and move the data instead); set partitions to %d or more"
                          % (ref, t["partitions"], have["partitions"], have["partitions"]))
        elif t["partitions"] > have["partitions"]:
            r["add_partitions"] = t["partitions"]
            changes.append("partitions %d -> %d (keys are hashed to other partitions from now on)"
                           % (have["partitions"], t["partitions"]))
        if t["replication_factor"] != have["replication_factor"]:
            errors.append("%s: replication_factor %d differs from the topic's current %d: this module does not "
                          "change the replication factor (that is a partition reassignment, "
                          "kafka-reassign-partitions.sh); set replication_factor to %d"
                          % (ref, t["replication_factor"], have["replication_factor"], have["replication_factor"]))
        for key in sorted(want_configs):
            if have_configs.get(key) != want_configs[key]:
                r["set_configs"][key] = want_configs[key]
                changes.append("config %s: %s -> %s" % (key, have_configs.get(key, "(default)"), want_configs[key]))
        if purge_configs:
            for key in sorted(set(have_configs) - set(want_configs)):
                r["delete_configs"].append(key)
                changes.append("config %s: %s -> (default)" % (key, have_configs[key]))
        merged = dict(have_configs)
        merged.update(want_configs)
        for key in r["delete_configs"]:
            merged.pop(key, None)
        after[name] = {"partitions": max(t["partitions"], have["partitions"]),
                       "replication_factor": have["replication_factor"], "configs": dict(sorted(merged.items()))}
        if changes:
            r["action"] = "update"
            r["changes"] = changes
        results.append(r)
    if errors:
        raise TopicPlanError("; ".join(errors))
    changed = any(r["action"] != "none" for r in results)
    return {"changed": changed, "topics": results,
            "diff": {"before": _render(before), "after": _render(after)}}


def _result(name, action, changes=None):
    return {"name": name, "action": action, "changes": changes or [], "add_partitions": None,
            "set_configs": {}, "delete_configs": []}


def _render(state):
    lines = []
    for name in sorted(state):
        s = state[name]
        lines.append("%s: partitions=%d replication_factor=%d" % (name, s["partitions"], s["replication_factor"]))
        for key, value in s["configs"].items():
            lines.append("  %s=%s" % (key, value))
    return "\n".join(lines) + ("\n" if lines else "")


# --- commands -----------------------------------------------------------------------------

CONFIG_COMMAND_CLASS = "kafka.admin.ConfigCommand"


def topic_regex(name):
    """kafka-topics' --topic takes a regular expression for --alter/--delete/--describe; '.' is
    the only legal topic-name character that means something there."""
    return name.replace(".", "\\.")


def _config_arg(key, value):
    # kafka-configs splits --add-config on commas unless the value is in square brackets
    return "%s=[%s]" % (key, value) if "," in value else "%s=%s" % (key, value)


def commands(planned, kafka_home, bootstrap_server, command_config=None):
    """The plan -> [(description, argv)] in order, for the Kafka tools under kafka_home."""
    topics_sh = "%s/bin/kafka-topics.sh" % kafka_home
    configs = ["%s/bin/kafka-run-class.sh" % kafka_home, CONFIG_COMMAND_CLASS]
    common = ["--bootstrap-server", bootstrap_server]
    if command_config:
        common += ["--command-config", command_config]
    out = []
    for r in planned["topics"]:
        name = r["name"]
        if r["action"] == "create":
            argv = [topics_sh] + common + ["--create", "--topic", name, "--partitions", str(r["partitions"]),
                                           "--replication-factor", str(r["replication_factor"])]
            for key in sorted(r["configs"]):
                argv += ["--config", "%s=%s" % (key, r["configs"][key])]
            out.append(("create topic %s" % name, argv))
        elif r["action"] == "delete":
            out.append(("delete topic %s" % name, [topics_sh] + common + ["--delete", "--topic", topic_regex(name)]))
        elif r["action"] == "update":
            if r["add_partitions"]:
                out.append(("grow topic %s to %d partitions" % (name, r["add_partitions"]),
                            [topics_sh] + common + ["--alter", "--topic", topic_regex(name),
                                                    "--partitions", str(r["add_partitions"])]))
            if r["set_configs"] or r["delete_configs"]:
                argv = configs + common + ["--alter", "--entity-type", "topics", "--entity-name", name]
                if r["set_configs"]:
                    argv += ["--add-config", ",".join(_config_arg(k, v) for k, v in sorted(r["set_configs"].items()))]
                if r["delete_configs"]:
                    argv += ["--delete-config", ",".join(r["delete_configs"])]
                out.append(("configure topic %s" % name, argv))
    return out
