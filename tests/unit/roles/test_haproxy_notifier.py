"""The haproxy role's failover notifier (roles/haproxy/files/haproxy-failover-notifier.py):
its parser on HAProxy's own wording, the webhook retries against a local HTTP server, and a
whole run of main() over a stand-in journalctl that replays journal entries written by hand in
HAProxy's wording (not captured from a running HAProxy)."""
import http.server
import importlib.util
import json
import os
import pathlib
import stat
import subprocess
import sys
import threading

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[3] / "roles/haproxy/files/haproxy-failover-notifier.py"
_spec = importlib.util.spec_from_file_location("haproxy_failover_notifier", SCRIPT)
notifier = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(notifier)

# Messages as HAProxy (2.6 on bookworm, 3.0 on trixie) logs them
DOWN = ('Server be_app/web1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", '
        'check duration: 0ms. 2 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.')
UP = ("Server be_app/web1 is UP, reason: Layer7 check passed, code: 200, check duration: 1ms. "
      "3 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.")
MAINT = ("Server be_app/web2 is going DOWN for maintenance. 2 active and 0 backup servers left. "
         "0 sessions active, 0 requeued, 0 remaining in queue.")
READY = "Server be_app/web2 is UP/READY (leaving forced maintenance)."
DRAIN = "Server be_app/web3 enters drain state."
UNDRAIN = "Server be_app/web3 is UP (leaving forced drain)."
BACKUP_DOWN = ("Backup Server be_app/spare is DOWN, reason: Layer7 wrong status, code: 503, info: "
               '"Service Unavailable", check duration: 2ms. 0 active and 0 backup servers left.')


@pytest.mark.parametrize("message,event,state,server,backup", [
    (DOWN, "server_down", "DOWN", "web1", False),
    (UP, "server_up", "UP", "web1", False),
    (MAINT, "server_maint", "MAINT", "web2", False),
    (READY, "server_up", "UP", "web2", False),
    (DRAIN, "server_drain", "DRAIN", "web3", False),
    ("Server be_app/web3 is UP/DRAIN (leaving forced maintenance).", "server_drain", "DRAIN", "web3", False),
    (UNDRAIN, "server_up", "UP", "web3", False),
    (BACKUP_DOWN, "server_down", "DOWN", "spare", True),
])
def test_server_state_changes(message, event, state, server, backup):
    assert notifier.parse(message) == {"event": event, "backend": "be_app", "server": server,
                                       "state": state, "backup": backup}


@pytest.mark.parametrize("message", ["backend be_app has no server available!",
                                     "proxy 'be_app' has no server available!"])
def test_backend_without_servers(message):
    assert notifier.parse(message) == {"event": "backend_down", "backend": "be_app", "server": None,
                                       "state": "NOSRV", "backup": False}


@pytest.mark.parametrize("message", [
    "", "Proxy fe_http started.", "Server be_app/web1 administratively READY thanks to valid DNS answer.",
    "Connect from 10.0.0.1:5555 to 10.0.0.2:80 (fe_http/HTTP)", "Server be_app is DOWN",
])
def test_other_messages_are_no_event(message):
    assert notifier.parse(message) is None


class _Sink(http.server.BaseHTTPRequestHandler):
    received = []
    fail_first = 0

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Sink.fail_first > 0:
            _Sink.fail_first -= 1
            self.send_response(500)
        else:
            _Sink.received.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *_):
        pass


@pytest.fixture()
def sink():
    _Sink.received, _Sink.fail_first = [], 0
    server = http.server.HTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_post_retries_then_delivers(sink, monkeypatch):
    monkeypatch.setattr(notifier.time, "sleep", lambda _s: None)
    _Sink.fail_first = 2
    assert notifier.post(sink, {"event": "server_down"}, 2) == 204
    assert _Sink.received == [("application/json", {"event": "server_down"})]


def test_post_gives_up_after_three_attempts(monkeypatch, capsys):
    monkeypatch.setattr(notifier.time, "sleep", lambda _s: None)
    assert notifier.post("http://127.0.0.1:9/unreachable", {"event": "x"}, 0.5) is None
    assert "webhook POST failed" in capsys.readouterr().err


def _journal_entry(cursor, message, usec=1795000000123456):
    return {"__CURSOR": cursor, "__REALTIME_TIMESTAMP": str(usec), "MESSAGE": message,
            "SYSLOG_IDENTIFIER": "haproxy"}


def test_main_follows_the_journal_logs_posts_and_keeps_its_cursor(tmp_path, sink):
    """main() over a stand-in journalctl: events reach the log file and the webhook, other
    lines are ignored, and a restart resumes after the saved cursor."""
    bin_dir, state_dir, log = tmp_path / "bin", tmp_path / "state", tmp_path / "failover.log"
    bin_dir.mkdir()
    state_dir.mkdir()
    entries = [_journal_entry("c1", DOWN), _journal_entry("c2", "Proxy fe_http started."),
               _journal_entry("c3", list(MAINT.encode())), _journal_entry("c4", UP)]
    (tmp_path / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries) + "not json\n")
    fake = bin_dir / "journalctl"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/args\ncat {tmp_path}/journal.jsonl\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAILOVER_LOG=str(log),
               WEBHOOK_URL=sink, WEBHOOK_TIMEOUT="2", STATE_DIR=str(state_dir))
    run = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    expected = [("server_down", "web1"), ("server_maint", "web2"), ("server_up", "web1")]
    assert [(e["event"], e["server"]) for e in events] == expected
    assert events[0]["time"] == "2026-11-18T11:06:40.123456Z" and events[0]["message"] == DOWN
    assert [body["event"] for _ctype, body in _Sink.received] == ["server_down", "server_maint", "server_up"]
    assert (state_dir / "cursor").read_text() == "c4"
    # first start: from now on only; the restart resumes after the saved cursor
    run = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    calls = (tmp_path / "args").read_text().splitlines()
    assert "--lines=0" in calls[0] and "--after-cursor=c4" in calls[1]
