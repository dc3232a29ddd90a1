#!/usr/bin/python3
# Managed by groundwork.platform.haproxy
"""Follow HAProxy's log in the journal and report failover events.

HAProxy logs every server state change (health checks, agent, runtime commands) through
syslog, which the journal stores with SYSLOG_IDENTIFIER=haproxy. Each change becomes one
JSON line in FAILOVER_LOG and, when WEBHOOK_URL is set, one JSON POST to it.

Settings come from the environment (/etc/default/haproxy-failover-notifier):
  FAILOVER_LOG      file the events are appended to
  WEBHOOK_URL       URL to POST each event to (empty: no webhook)
  WEBHOOK_TIMEOUT   seconds per POST attempt (3 attempts)
  STATE_DIR         where the journal cursor is kept, so a restart misses nothing
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

SERVER_RE = re.compile(r"^(?P<backup>Backup )?Server (?P<backend>[^/\s]+)/(?P<server>\S+) (?P<rest>.*)")
BACKEND_RE = re.compile(r"^(?:backend|proxy) '?(?P<backend>[^'\s]+)'? has no server available!")


def classify(rest):
    """State named by the rest of a `Server B/S ...` message, or None.

    HAProxy's wording: "is DOWN, reason: ...", "is UP, reason: ...", "is going DOWN for
    maintenance", "is UP/READY (leaving forced maintenance)", "enters drain state",
    "is UP/DRAIN (leaving forced maintenance)", "is UP (leaving forced drain)",
    "remains in forced drain mode".
    """
    if "going DOWN for maintenance" in rest or "enters maintenance" in rest or "remains in forced maintenance" in rest:
        return "MAINT"
    if rest.startswith("is UP/DRAIN") or "enters drain" in rest or "remains in forced drain" in rest:
        return "DRAIN"
    if rest.startswith("is UP"):
        return "UP"
    if rest.startswith("is DOWN"):
        return "DOWN"
    return None


def parse(message):
    """Return an event dict for a state-change message, or None."""
    m = SERVER_RE.match(message)
    if m:
        state = classify(m.group("rest"))
        if state is None:
            return None
        return {
            "event": "server_" + state.lower(),
            "backend": m.group("backend"),
            "server": m.group("server"),
            "state": state,
            "backup": bool(m.group("backup")),
        }
    m = BACKEND_RE.match(message)
    if m:
        return {"event": "backend_down", "backend": m.group("backend"), "server": None,
                "state": "NOSRV", "backup": False}
    return None


def post(url, event, timeout):
    body = json.dumps(event).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    err = None
    for attempt in range(3):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status
        except Exception as exc:  # any failure: retry, then log and go on
            err = exc
            time.sleep(1 + attempt)
    print("webhook POST failed: %s" % err, file=sys.stderr, flush=True)
    return None


def main():
    log_path = os.environ.get("FAILOVER_LOG", "/var/log/haproxy/failover.log")
    url = os.environ.get("WEBHOOK_URL", "")
    timeout = float(os.environ.get("WEBHOOK_TIMEOUT", "5"))
    state_dir = os.environ.get("STATE_DIR", "/var/lib/haproxy-failover-notifier")
    cursor_file = os.path.join(state_dir, "cursor")
    host = socket.gethostname()

    cmd = ["journalctl", "--follow", "--output=json", "--no-pager",
           "SYSLOG_IDENTIFIER=haproxy", "_TRANSPORT=syslog"]
    try:
        with open(cursor_file) as fh:
            cmd.append("--after-cursor=" + fh.read().strip())
    except OSError:
        cmd.append("--lines=0")  # first start: only what happens from now on
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

    def stop(*_):
        proc.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("following HAProxy's log; webhook %s" % ("set" if url else "not set"), flush=True)

    for line in proc.stdout:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get("MESSAGE")
        if isinstance(message, list):  # journald sends non-UTF-8 text as bytes
            message = bytes(message).decode("utf-8", "replace")
        event = parse(message or "")
        if event:
            usec = int(entry.get("__REALTIME_TIMESTAMP", time.time() * 1e6))
            event.update(host=host, message=message,
                         time=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(usec / 1e6))
                         + ".%06dZ" % (usec % 1000000))
            with open(log_path, "a") as fh:
                fh.write(json.dumps(event) + "\n")
            print("%(event)s %(backend)s/%(server)s" % event, flush=True)
            if url:
                post(url, event, timeout)
        cursor = entry.get("__CURSOR")
        if cursor:
            tmp = cursor_file + ".tmp"
            with open(tmp, "w") as fh:
                fh.write(cursor)
            os.replace(tmp, cursor_file)
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
