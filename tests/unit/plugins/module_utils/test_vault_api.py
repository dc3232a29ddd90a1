# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How vault_write reads an OpenBao answer (answers written in OpenBao's format by hand)."""
import pytest

from ansible_collections.groundwork.platform.plugins.module_utils._vault_api import outcome, parse_body


def test_204_without_a_body_is_success():
    assert outcome("PUT", "/v1/sys/policies/acl/app", 204, "", [200, 204]) == (True, {}, None)


def test_200_returns_the_body():
    ok, body, msg = outcome("POST", "/v1/pki/intermediate/generate/internal", 200,
                            '{"data": {"csr": "-----BEGIN CERTIFICATE REQUEST-----"}}', [200, 204])
    assert ok and body["data"]["csr"].startswith("-----BEGIN") and msg is None


def test_a_refusal_names_the_path_the_status_and_openbaos_errors():
    ok, body, msg = outcome("PUT", "/v1/sys/policies/acl/app", 400,
                            '{"errors": ["failed to parse policy: At 1:8: nested object expected"]}', [200, 204])
    assert not ok and body["errors"]
    assert msg == ("PUT /v1/sys/policies/acl/app: HTTP 400, expected 200, 204: "
                   "failed to parse policy: At 1:8: nested object expected")


def test_a_refusal_without_errors_still_says_so():
    ok, _body, msg = outcome("POST", "/v1/x", 503, "", [200])
    assert not ok and msg == "POST /v1/x: HTTP 503, expected 200: no error message"


def test_no_answer():
    ok, _body, msg = outcome("POST", "/v1/x", None, "Connection refused", [200])
    assert not ok and msg == "POST /v1/x: no answer (Connection refused)"


@pytest.mark.parametrize("text", ["<html>proxy error</html>", "[1, 2]"])
def test_a_success_status_with_a_body_that_is_not_a_json_object_fails(text):
    ok, body, msg = outcome("POST", "/v1/x", 200, text, [200])
    assert not ok and body == {} and msg.startswith("POST /v1/x: the answer is")


def test_a_listed_status_other_than_2xx_is_success():
    # e.g. 403 for a root token already revoked
    assert outcome("POST", "/v1/auth/token/revoke-self", 403, '{"errors": ["permission denied"]}', [200, 204, 403])[0]


def test_parse_body():
    assert parse_body(None) == ({}, None)
    assert parse_body("  \n") == ({}, None)
    assert parse_body('{"a": 1}') == ({"a": 1}, None)
