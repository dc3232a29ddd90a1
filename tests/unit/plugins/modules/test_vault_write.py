# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vault_write run as Ansible runs it, against a small HTTP server on loopback that answers as
OpenBao does (statuses and bodies written by hand, not recorded from OpenBao)."""
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from test_haproxy_weights import run_module  # same directory; pytest puts it on sys.path

TOKEN = "s.role-token-4b1d"


class Fake(BaseHTTPRequestHandler):
    requests = []
    answers = {}

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        Fake.requests.append({"method": self.command, "path": self.path, "token": self.headers.get("X-Vault-Token"),
                              "body": json.loads(self.rfile.read(length) or b"null")})
        status, body = Fake.answers.get(self.path, (404, {"errors": []}))
        self.send_response(status)
        self.end_headers()
        if body is not None:
            self.wfile.write(json.dumps(body).encode())

    do_POST = do_PUT = _answer

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    Fake.requests, Fake.answers = [], {}
    httpd = HTTPServer(("127.0.0.1", 0), Fake)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_check_mode_sends_nothing_and_reports_the_change(server):
    Fake.answers["/v1/sys/policies/acl/app"] = (204, None)
    rc, result = run_module("vault_write", {"url": server + "/v1/sys/policies/acl/app", "method": "PUT",
                                            "token": TOKEN, "body": {"policy": "x"}}, check_mode=True)
    assert rc == 0 and result["changed"] is True and result["status"] is None and result["json"] == {}
    assert Fake.requests == []


def test_a_write_sends_the_token_and_the_body_and_returns_the_answer(server):
    Fake.answers["/v1/pki/intermediate/generate/internal"] = (200, {"data": {"csr": "CSR"}})
    rc, result = run_module("vault_write", {"url": server + "/v1/pki/intermediate/generate/internal",
                                            "token": TOKEN, "body": {"common_name": "ca", "key_bits": 256}})
    assert rc == 0 and result["changed"] is True and result["status"] == 200
    assert result["json"] == {"data": {"csr": "CSR"}}
    assert Fake.requests == [{"method": "POST", "path": "/v1/pki/intermediate/generate/internal", "token": TOKEN,
                              "body": {"common_name": "ca", "key_bits": 256}}]
    assert TOKEN not in json.dumps(result)


def test_a_204_and_put(server):
    Fake.answers["/v1/sys/policies/acl/app"] = (204, None)
    rc, result = run_module("vault_write", {"url": server + "/v1/sys/policies/acl/app", "method": "PUT",
                                            "token": TOKEN, "body": {"policy": "x"}})
    assert rc == 0 and result["status"] == 204 and result["json"] == {}
    assert Fake.requests[0]["method"] == "PUT"


def test_a_refused_write_fails_with_openbaos_errors_and_no_token(server):
    Fake.answers["/v1/sys/policies/acl/app"] = (400, {"errors": ["failed to parse policy"]})
    rc, result = run_module("vault_write", {"url": server + "/v1/sys/policies/acl/app", "method": "PUT",
                                            "token": TOKEN, "body": {"policy": "{"}})
    assert rc != 0 and result["failed"]
    assert result["msg"] == "PUT /v1/sys/policies/acl/app: HTTP 400, expected 200, 204: failed to parse policy"
    assert TOKEN not in json.dumps(result)


def test_a_listed_status_is_success(server):
    Fake.answers["/v1/auth/token/revoke-self"] = (403, {"errors": ["permission denied"]})
    rc, result = run_module("vault_write", {"url": server + "/v1/auth/token/revoke-self", "token": TOKEN,
                                            "status_code": [200, 204, 403]})
    assert rc == 0 and result["status"] == 403


def test_no_server_listening():
    with socket.socket() as probe:  # a port that was free a moment ago, closed again
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rc, result = run_module("vault_write", {"url": f"http://127.0.0.1:{port}/v1/x", "timeout": 5})
    assert rc != 0 and result["msg"].startswith("POST /v1/x: no answer (")
