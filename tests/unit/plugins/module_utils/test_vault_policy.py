# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The structure check of OpenBao ACL policies (policies written by hand in OpenBao's syntax)."""
import pytest

from ansible_collections.groundwork.platform.plugins.module_utils._vault_policy import policy_error

GOOD = [
    'path "secret/data/app/*" { capabilities = ["create", "read", "update"] }',
    '# the app\npath "secret/data/app/*" {\n  capabilities = ["read"]\n}\n// more\npath "pki/issue/x" { capabilities = ["update"] }\n',
    'path "secret/data/*" {\n  capabilities = ["create"]\n  allowed_parameters = {\n    "v" = []\n  }\n  min_wrapping_ttl = "1s"\n}',
    'path "sys/*" { capabilities = ["deny"] } /* block\ncomment */',
    'path "a" {\n  capabilities = ["read",]\n  required_parameters = ["x", "y"]\n}',
    'path "a" { capabilities = ["read"] denied_parameters { "x" = [] } }',
]
BAD = [
    ('', "the policy is empty"),
    ('path "secret/*" { capabilities = ["read"]', "expected }, found the end"),
    ('path secret/* { capabilities = ["read"] }', "line 1: unexpected"),
    ('path 7 { capabilities = ["read"] }', "the quoted path"),
    ('paths "secret/*" { capabilities = ["read"] }', 'a block `path "<glob>" {`'),
    ('path "secret/*" { capabilities = ["read" "list"] }', "',' or ']'"),
    ('path "secret/*" { capabilities = ["read"] }}', 'a block `path "<glob>" {`'),
    ('path "secret/*" { capabilities ["read"] }', "expected ="),
    ('path "secret/*" {\n  capabilities = ["read]\n}', "line 2"),
]


@pytest.mark.parametrize("text", GOOD)
def test_policies_that_parse(text):
    assert policy_error(text) is None


@pytest.mark.parametrize("text, expected", BAD)
def test_policies_that_do_not_parse_say_why(text, expected):
    error = policy_error(text)
    assert error is not None and expected in error, error


def test_not_text():
    assert policy_error(3) == "the policy must be HCL text"
