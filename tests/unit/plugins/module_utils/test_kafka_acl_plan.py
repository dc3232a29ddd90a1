"""Unit tests of the kafka_acl module's pure logic (plugins/module_utils/_kafka_acl_plan.py).

The --list output is RECORDED from a real Kafka 4.3.1 broker (tests/unit/fixtures/kafka-4.3.1/
acls_list.txt, its README names the exact command). Every other tool output below is
CONSTRUCTED in the test (named CONSTRUCTED_*), in the recorded format, for cases the recording
cannot show; none of it is a recording. The module file is loaded by path.
"""
import importlib.util
import pathlib

import pytest

_ROOT = pathlib.Path(__file__).resolve().parents[4]
_PATH = _ROOT / "plugins" / "module_utils" / "_kafka_acl_plan.py"
_SPEC = importlib.util.spec_from_file_location("_kafka_acl_plan", _PATH)
ka = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ka)

FIXTURES = _ROOT / "tests" / "unit" / "fixtures" / "kafka-4.3.1"

# recorded: kafka-run-class.sh org.apache.kafka.tools.AclCommand --bootstrap-server ... --command-config ... --list
LIST = (FIXTURES / "acls_list.txt").read_text(encoding="utf-8")

HOME = "/opt/kafka/current"
BOOTSTRAP = "10.0.0.1:9092"
CONFIG = "/etc/kafka/admin-client.properties"
CONNECTION = ["--bootstrap-server", BOOTSTRAP, "--command-config", CONFIG]
PREFIX = [HOME + "/bin/kafka-run-class.sh", "org.apache.kafka.tools.AclCommand", "--bootstrap-server", BOOTSTRAP,
          "--command-config", CONFIG, "--add"]

# The declaration the recorded ACLs were made from (the molecule scenario's kafka_acls, plus the
# entries the recording's README lists for alerts).
DECLARED = [
    {"principal": "User:app", "resource_type": "topic", "resource_name": "camera-events",
     "operations": ["Read", "Write", "Describe"]},
    {"principal": "User:app", "resource_type": "topic", "resource_name": "alerts", "operations": ["Read"]},
    {"principal": "User:stranger", "resource_type": "topic", "resource_name": "alerts", "permission": "deny",
     "host": "127.0.0.1", "operations": ["DescribeConfigs"]},
    {"principal": "User:app", "resource_type": "group", "resource_name": "app-", "pattern_type": "prefixed",
     "operations": ["Read"]},
    {"principal": "User:app", "resource_type": "cluster", "operations": ["IdempotentWrite"]},
]


def _plan(acls, listed=LIST):
    return ka.plan(ka.validate_acls(acls, var_name="kafka_acls"), ka.parse_acl_list(listed))


def _argvs(planned):
    return [argv for _what, argv in ka.commands(planned, HOME, CONNECTION)]


# --- the parser on the recorded output -------------------------------------------------------

def test_parse_recorded_list():
    assert ka.parse_acl_list(LIST) == {
        ("TOPIC", "camera-events", "LITERAL", "User:app", "*", "DESCRIBE", "ALLOW"),
        ("TOPIC", "camera-events", "LITERAL", "User:app", "*", "READ", "ALLOW"),
        ("TOPIC", "camera-events", "LITERAL", "User:app", "*", "WRITE", "ALLOW"),
        ("TOPIC", "alerts", "LITERAL", "User:app", "*", "READ", "ALLOW"),
        ("TOPIC", "alerts", "LITERAL", "User:stranger", "127.0.0.1", "DESCRIBE_CONFIGS", "DENY"),
        ("GROUP", "app-", "PREFIXED", "User:app", "*", "READ", "ALLOW"),
        ("CLUSTER", "kafka-cluster", "LITERAL", "User:app", "*", "IDEMPOTENT_WRITE", "ALLOW"),
    }


def test_parse_empty_and_tool_warnings():
    assert ka.parse_acl_list("") == set()
    assert ka.parse_acl_list(None) == set()
    # CONSTRUCTED: a line of the tool that is neither a header nor an ACL is ignored
    assert ka.parse_acl_list("WARNING: something the tool said\n" + LIST) == ka.parse_acl_list(LIST)


def test_parse_constructed_names_with_separators():
    # CONSTRUCTED in the recorded format: resource names with '.', '_', '-', a transactional id
    # and a principal holding ', ' (an mTLS distinguished name), which the parser must not split on
    text = (
        "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=cam.events_v2-x, patternType=LITERAL)`:\n"
        "\t(principal=User:svc_a.b-c, host=*, operation=READ, permissionType=ALLOW)\n"
        "\n"
        "Current ACLs for resource `ResourcePattern(resourceType=TRANSACTIONAL_ID, name=tx-1, patternType=PREFIXED)`:\n"
        "\t(principal=User:CN=app, O=Org, host=10.0.0.5, operation=WRITE, permissionType=ALLOW)\n"
        "\n"
    )
    assert ka.parse_acl_list(text) == {
        ("TOPIC", "cam.events_v2-x", "LITERAL", "User:svc_a.b-c", "*", "READ", "ALLOW"),
        ("TRANSACTIONAL_ID", "tx-1", "PREFIXED", "User:CN=app, O=Org", "10.0.0.5", "WRITE", "ALLOW"),
    }


@pytest.mark.parametrize("text, expected", [
    # CONSTRUCTED: a header that is not the recorded ResourcePattern(...) form
    ("Current ACLs for resource `Resource(TOPIC, x)`:\n", "cannot parse"),
    # CONSTRUCTED: an ACL line missing its permissionType
    (LIST.replace(", permissionType=ALLOW)", ")", 1), "cannot parse"),
    # CONSTRUCTED: an ACL line before any header
    ("\t(principal=User:app, host=*, operation=READ, permissionType=ALLOW)\n", "before any resource"),
])
def test_parse_refuses_what_it_cannot_read(text, expected):
    with pytest.raises(ka.AclPlanError, match=expected):
        ka.parse_acl_list(text)


# --- operation names -----------------------------------------------------------------------

SNAKE = {
    "All": "ALL", "Read": "READ", "Write": "WRITE", "Create": "CREATE", "Delete": "DELETE", "Alter": "ALTER",
    "Describe": "DESCRIBE", "ClusterAction": "CLUSTER_ACTION", "DescribeConfigs": "DESCRIBE_CONFIGS",
    "AlterConfigs": "ALTER_CONFIGS", "IdempotentWrite": "IDEMPOTENT_WRITE", "CreateTokens": "CREATE_TOKENS",
    "DescribeTokens": "DESCRIBE_TOKENS",
}


def test_camel_case_to_upper_snake_for_every_kafka_operation():
    assert set(SNAKE) == set(ka.OPERATIONS)
    for camel, snake in SNAKE.items():
        assert ka.operation_snake(camel) == snake
        # what --list prints maps back to the name --operation takes
        assert ka.operation_name(snake) == camel


@pytest.mark.parametrize("declared", ["IdempotentWrite", "IDEMPOTENT_WRITE", "idempotent_write", "idempotentwrite",
                                      "Idempotent-Write", " IdempotentWrite "])
def test_operation_any_case(declared):
    assert ka.operation_name(declared) == "IdempotentWrite"


def test_operation_unknown():
    assert ka.operation_name("Produce") is None
    assert ka.operation_name(None) is None
    assert ka.operation_name(3) is None


# --- the plan against the recorded list ------------------------------------------------------

def test_no_change_on_the_recorded_state_it_was_made_from():
    p = _plan(DECLARED)
    assert p["changed"] is False and p["add"] == []
    assert ka.commands(p, HOME, CONNECTION) == []
    assert p["diff"]["before"] == p["diff"]["after"]
    assert "TOPIC camera-events LITERAL: ALLOW User:app READ from *" in p["diff"]["before"]


def test_any_case_matches_the_recorded_upper_snake():
    acls = [{"principal": "User:app", "resource_type": "cluster", "operations": ["IDEMPOTENT_WRITE"]},
            {"principal": "User:app", "resource_type": "topic", "resource_name": "camera-events",
             "operations": ["read", "WRITE", "Describe"], "permission": "ALLOW", "pattern_type": "Literal"}]
    assert _plan(acls)["changed"] is False


# the cases test_kafka_role.py checks on the role's former Jinja expressions, on the module's plan
@pytest.mark.parametrize("acl", [
    {"principal": "User:app", "resource_type": "topic", "resource_name": "camera-events", "operations": ["Read"]},
    {"principal": "User:app", "resource_type": "topic", "resource_name": "camera-events", "operations": ["Describe"]},
    {"principal": "User:app", "resource_type": "topic", "resource_name": "alerts", "operations": ["Read"]},
    {"principal": "User:app", "resource_type": "group", "resource_name": "app-", "pattern_type": "prefixed",
     "operations": ["Read"]},
    {"principal": "User:app", "resource_type": "cluster", "operations": ["IdempotentWrite"]},
    {"principal": "User:stranger", "resource_type": "topic", "resource_name": "alerts", "permission": "deny",
     "host": "127.0.0.1", "operations": ["DescribeConfigs"]},
])
def test_acls_present_in_the_recorded_list_are_not_added_again(acl):
    assert _plan([acl])["add"] == []


@pytest.mark.parametrize("acl", [
    # WRITE for User:app is listed, but under camera-events, not alerts
    {"principal": "User:app", "resource_type": "topic", "resource_name": "alerts", "operations": ["Write"]},
    # READ on app- is listed as PREFIXED, not LITERAL
    {"principal": "User:app", "resource_type": "group", "resource_name": "app-", "operations": ["Read"]},
    # a deny is not an allow
    {"principal": "User:app", "resource_type": "topic", "resource_name": "camera-events", "permission": "deny",
     "operations": ["Read"]},
    # another host
    {"principal": "User:stranger", "resource_type": "topic", "resource_name": "alerts", "permission": "deny",
     "operations": ["DescribeConfigs"]},
    {"principal": "User:app", "resource_type": "transactional-id", "resource_name": "tx", "operations": ["Write"]},
    # a prefix of a listed name is another resource
    {"principal": "User:app", "resource_type": "topic", "resource_name": "camera", "operations": ["Read"]},
    # the same resource, another principal
    {"principal": "User:stranger", "resource_type": "topic", "resource_name": "camera-events", "operations": ["Read"]},
    # an ACL on the cluster is not one on a topic
    {"principal": "User:app", "resource_type": "topic", "resource_name": "kafka-cluster",
     "operations": ["Write"]},
])
def test_acls_missing_from_the_recorded_list_are_added(acl):
    p = _plan([acl])
    assert p["changed"] is True
    assert len(p["add"]) == 1 and p["add"][0]["operations"] == [ka.operation_name(acl["operations"][0])]


def test_an_acl_on_another_resource_does_not_count():
    # User:app has WRITE on camera-events (recorded) but not on alerts, where it has READ
    p = _plan([{"principal": "User:app", "resource_type": "topic", "resource_name": "alerts",
                "operations": ["Read", "Write"]}])
    assert p["add"] == [{"principal": "User:app", "host": "*", "permission": "allow", "resource_type": "topic",
                         "resource_name": "alerts", "pattern_type": "literal", "operations": ["Write"],
                         "indexes": [0]}]
    assert _argvs(p) == [PREFIX + ["--allow-principal", "User:app", "--allow-host", "*", "--operation", "Write",
                                   "--resource-pattern-type", "literal", "--topic", "alerts"]]
    assert "TOPIC alerts LITERAL: ALLOW User:app WRITE from *" in p["diff"]["after"]
    assert "WRITE" not in p["diff"]["before"]
    # the diff holds the declared resource patterns only
    assert "camera-events" not in p["diff"]["before"]


def test_one_command_per_principal_permission_pattern_and_operations():
    acls = [
        {"principal": "User:app", "resource_type": "topic", "resource_name": "alerts",
         "operations": ["Read", "Write", "Describe", "DescribeConfigs"]},
        # same principal, host, permission and resource pattern: the same group, the same call
        {"principal": "User:app", "resource_type": "topic", "resource_name": "alerts", "operations": ["write", "Alter"]},
        # another permission: another call
        {"principal": "User:app", "resource_type": "topic", "resource_name": "alerts", "permission": "deny",
         "operations": ["Delete"]},
        # another pattern type: another call
        {"principal": "User:app", "resource_type": "topic", "resource_name": "alerts", "pattern_type": "prefixed",
         "operations": ["Read"]},
        {"principal": "User:app", "resource_type": "cluster", "operations": ["IdempotentWrite", "Describe"]},
        {"principal": "User:app", "resource_type": "delegation-token", "resource_name": "tok", "operations": ["Describe"]},
    ]
    p = _plan(acls)
    assert [g["indexes"] for g in p["add"]] == [[0, 1], [2], [3], [4], [5]]
    assert p["add"][0]["operations"] == ["Write", "Describe", "DescribeConfigs", "Alter"]
    assert _argvs(p) == [
        PREFIX + ["--allow-principal", "User:app", "--allow-host", "*", "--operation", "Write", "--operation", "Describe",
                  "--operation", "DescribeConfigs", "--operation", "Alter", "--resource-pattern-type", "literal",
                  "--topic", "alerts"],
        PREFIX + ["--deny-principal", "User:app", "--deny-host", "*", "--operation", "Delete",
                  "--resource-pattern-type", "literal", "--topic", "alerts"],
        PREFIX + ["--allow-principal", "User:app", "--allow-host", "*", "--operation", "Read",
                  "--resource-pattern-type", "prefixed", "--topic", "alerts"],
        # IdempotentWrite is recorded as present on the cluster; only Describe is missing. The
        # same principal, host, permission, pattern type and operations on two resources: one call
        # (AclCommand adds every operation to every resource it is given)
        PREFIX + ["--allow-principal", "User:app", "--allow-host", "*", "--operation", "Describe",
                  "--resource-pattern-type", "literal", "--cluster", "--delegation-token", "tok"],
    ]
    descriptions = [what for what, _argv in ka.commands(p, HOME, CONNECTION)]
    assert descriptions[0] == "allow User:app from *: Write, Describe, DescribeConfigs, Alter on literal topic alerts"
    assert descriptions[3] == ("allow User:app from *: Describe on the cluster; "
                               "allow User:app from *: Describe on literal delegation-token tok")


def test_commands_through_the_controllers():
    p = _plan([{"principal": "User:CN=kafka-4", "resource_type": "cluster", "operations": ["ClusterAction"]}])
    argvs = [argv for _what, argv in ka.commands(p, "/k", ["--bootstrap-controller", "c1:9093,c2:9093", "--command-config", "/c.properties"])]
    assert argvs == [
        ["/k/bin/kafka-run-class.sh", "org.apache.kafka.tools.AclCommand", "--bootstrap-controller", "c1:9093,c2:9093",
         "--command-config", "/c.properties", "--add", "--allow-principal", "User:CN=kafka-4", "--allow-host", "*",
         "--operation", "ClusterAction", "--resource-pattern-type", "literal", "--cluster"]]


def test_commands_without_command_config_and_with_group_and_transactional_id():
    p = _plan([{"principal": "User:app", "resource_type": "group", "resource_name": "app.consumers_1",
                "operations": ["Read", "Describe"], "host": "10.0.0.7"},
               {"principal": "User:app", "resource_type": "transactional-id", "resource_name": "tx-", "pattern_type":
                "prefixed", "operations": ["Write", "Describe"]}])
    argvs = [argv for _what, argv in ka.commands(p, "/k", ["--bootstrap-server", "b:9092"])]
    assert argvs == [
        ["/k/bin/kafka-run-class.sh", "org.apache.kafka.tools.AclCommand", "--bootstrap-server", "b:9092", "--add",
         "--allow-principal", "User:app", "--allow-host", "10.0.0.7", "--operation", "Read", "--operation", "Describe",
         "--resource-pattern-type", "literal", "--group", "app.consumers_1"],
        ["/k/bin/kafka-run-class.sh", "org.apache.kafka.tools.AclCommand", "--bootstrap-server", "b:9092", "--add",
         "--allow-principal", "User:app", "--allow-host", "*", "--operation", "Write", "--operation", "Describe",
         "--resource-pattern-type", "prefixed", "--transactional-id", "tx-"],
    ]


def test_duplicate_declarations_add_once():
    acl = {"principal": "User:new", "resource_type": "topic", "resource_name": "alerts", "operations": ["Read", "READ"]}
    p = _plan([acl, dict(acl)])
    assert len(p["add"]) == 1 and p["add"][0]["operations"] == ["Read"] and p["add"][0]["indexes"] == [0]


def test_all_does_not_stand_for_other_operations():
    # CONSTRUCTED in the recorded format: an All ACL; a declared Read is a distinct ACL in Kafka
    text = ("Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=t, patternType=LITERAL)`:\n"
            "\t(principal=User:app, host=*, operation=ALL, permissionType=ALLOW)\n\n")
    assert _plan([{"principal": "User:app", "resource_type": "topic", "resource_name": "t",
                   "operations": ["All"]}], text)["changed"] is False
    assert _plan([{"principal": "User:app", "resource_type": "topic", "resource_name": "t",
                   "operations": ["Read"]}], text)["changed"] is True


def test_nothing_declared_nothing_planned():
    p = _plan([])
    assert p == {"changed": False, "add": [], "diff": {"before": "", "after": ""}}


# --- validation ----------------------------------------------------------------------------

def _ok(**kw):
    acl = {"principal": "User:app", "resource_type": "topic", "resource_name": "t", "operations": ["Read"]}
    acl.update(kw)
    return acl


def test_validate_normalizes():
    out = ka.validate_acls([_ok(permission="DENY", pattern_type="PREFIXED", resource_type="Topic",
                                operations=["read", "DESCRIBE_CONFIGS", "Read"]),
                            {"principal": "User:app", "resource_type": "cluster", "operations": ["ClusterAction"]}])
    assert out == [
        {"principal": "User:app", "host": "*", "permission": "deny", "resource_type": "topic", "resource_name": "t",
         "pattern_type": "prefixed", "operations": ["Read", "DescribeConfigs"], "index": 0},
        {"principal": "User:app", "host": "*", "permission": "allow", "resource_type": "cluster",
         "resource_name": "kafka-cluster", "pattern_type": "literal", "operations": ["ClusterAction"], "index": 1},
    ]


@pytest.mark.parametrize("acl, expected", [
    (_ok(principal="app"), "kafka_acls[1]: principal must be User:NAME"),
    (_ok(principal="User:a b"), "kafka_acls[1]: principal must be User:NAME"),
    (_ok(principal=None), "kafka_acls[1]: principal must be User:NAME"),
    (_ok(resource_type="topics"), "kafka_acls[1]: resource_type must be one of topic, group, cluster, "
                                  "transactional-id, delegation-token, got 'topics'"),
    (_ok(resource_type="user"), "kafka_acls[1]: resource_type must be one of"),
    (_ok(resource_name=None), "kafka_acls[1]: resource_name is required for resource_type topic"),
    (_ok(resource_name=""), "kafka_acls[1]: resource_name is required"),
    (_ok(resource_type="group", resource_name=42), "kafka_acls[1]: resource_name is required for resource_type group"),
    (_ok(resource_name="bad name"), "kafka_acls[1]: resource_name of a topic must be"),
    (_ok(resource_name=" t"), "must not start or end with spaces"),
    (_ok(pattern_type="match"), "kafka_acls[1]: pattern_type must be literal or prefixed, got 'match'"),
    (_ok(permission="grant"), "kafka_acls[1]: permission must be allow or deny, got 'grant'"),
    (_ok(operations=[]), "kafka_acls[1]: operations must be a non-empty list"),
    (_ok(operations="Read"), "kafka_acls[1]: operations must be a non-empty list"),
    (_ok(operations=None), "kafka_acls[1]: operations must be a non-empty list"),
    (_ok(operations=["Read", "Produce"]), "kafka_acls[1]: operation 'Produce' is not a Kafka operation"),
    (_ok(operations=["IdempotentWrite"]), "kafka_acls[1]: operation IdempotentWrite does not apply to resource_type topic"),
    (_ok(resource_type="transactional-id", operations=["Read"]), "operation Read does not apply to resource_type "
                                                                 "transactional-id (Kafka accepts All, Describe, Write)"),
    (_ok(operations=["CreateTokens"]), "operation CreateTokens does not apply to resource_type topic"),
    (_ok(host="broker1.example.com"), "kafka_acls[1]: host must be * or a client IP address"),
    (_ok(host=""), "kafka_acls[1]: host must be"),
    (_ok(permision="deny"), "kafka_acls[1]: unknown keys permision"),
    ({"principal": "User:app", "resource_type": "cluster", "resource_name": "c", "operations": ["Alter"]},
     "kafka_acls[1]: resource_name must be left out for the cluster"),
    ({"principal": "User:app", "resource_type": "cluster", "pattern_type": "prefixed", "operations": ["Alter"]},
     "kafka_acls[1]: pattern_type must be literal for the cluster"),
    ("User:app", "kafka_acls[1] must be a mapping"),
])
def test_validate_refuses_bad_input_naming_the_variable_and_index(acl, expected):
    with pytest.raises(ka.AclPlanError) as err:
        ka.validate_acls([_ok(), acl], var_name="kafka_acls")
    assert expected in str(err.value)
    assert "kafka_acls[0]" not in str(err.value)


def test_validate_collects_all_errors():
    with pytest.raises(ka.AclPlanError) as err:
        ka.validate_acls([_ok(principal="x"), _ok(), _ok(operations=["Nope"], permission="maybe")], var_name="my_acls")
    msg = str(err.value)
    assert "my_acls[0]: principal" in msg
    assert "my_acls[2]: permission must be allow or deny" in msg and "my_acls[2]: operation 'Nope'" in msg
    assert "my_acls[1]" not in msg


def test_validate_refuses_a_non_list():
    with pytest.raises(ka.AclPlanError, match="kafka_acls must be a list"):
        ka.validate_acls({"principal": "User:app"}, var_name="kafka_acls")


def test_validate_accepts_wildcards_and_ip_hosts():
    out = ka.validate_acls([_ok(principal="User:*", resource_name="*", host="10.1.2.3"),
                            _ok(host="::1"), _ok(resource_type="group", resource_name="any chars: ok/ü")])
    assert [a["host"] for a in out] == ["10.1.2.3", "::1", "*"]
