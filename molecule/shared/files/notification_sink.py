#!/usr/bin/env python3
"""Local stand-ins for the services Alertmanager notifies, for the molecule scenario.

HTTP (port 9999): records every POST body (JSON) with its arrival time and path; the
scenario points Alertmanager's slack_configs (api_url .../slack), pagerduty_configs
(url .../pagerduty) and webhook_configs (url .../webhook) at it, so the bodies are the
real wire formats of those integrations. GET /records returns all of them;
DELETE /records forgets them.
SMTP (port 2525): a minimal SMTP server (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT)
that records each message the same way, under path "smtp".
"""
import json
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECORDS = []
LOCK = threading.Lock()


def record(path, body):
    with LOCK:
        RECORDS.append({"received": time.time(), "path": path, "body": body})


class HTTPHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record(self.path.strip("/"), body)
        answer = b'{"status":"success","message":"Event processed","dedup_key":"x"}' if "pagerduty" in self.path else b"ok"
        self.send_response(202 if "pagerduty" in self.path else 200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self):
        with LOCK:
            data = json.dumps(RECORDS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_DELETE(self):
        with LOCK:
            RECORDS.clear()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class SMTPHandler(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.reply("220 sink ESMTP ready")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-sink\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n")
            elif verb == "HELO":
                self.reply("250 sink")
            elif verb == "MAIL":
                sender, rcpts = cmd[10:].strip(), []
                self.reply("250 OK")
            elif verb == "RCPT":
                rcpts.append(cmd[8:].strip())
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    data = self.rfile.readline()
                    if not data or data in (b".\r\n", b".\n"):
                        break
                    lines.append(data.decode("utf-8", "replace"))
                message = "".join(lines)
                headers = {}
                for header in message.split("\r\n\r\n", 1)[0].splitlines():
                    if ":" in header and not header.startswith((" ", "\t")):
                        key, value = header.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                record("smtp", {"from": sender, "to": rcpts, "subject": headers.get("subject", ""), "message": message})
                self.reply("250 OK: queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class SMTPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    address = sys.argv[1] if len(sys.argv) > 1 else "0.0.0.0"
    smtp = SMTPServer((address, 2525), SMTPHandler)
    threading.Thread(target=smtp.serve_forever, daemon=True).start()
    ThreadingHTTPServer((address, 9999), HTTPHandler).serve_forever()


if __name__ == "__main__":
    main()
