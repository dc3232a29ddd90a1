#!/usr/bin/python3
"""Test backend: an HTTP server that answers after a fixed delay, plus an agent-check port.

GET /health answers "ok" at once; any other path answers "NAME" after DELAY_MS (or
?sleep=MS). The agent port answers the content of /run/delay-app/NAME.agent, or "up".
"""
import os
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NAME = os.environ["NAME"]
PORT = int(os.environ["PORT"])
AGENT_PORT = int(os.environ["AGENT_PORT"])
DELAY = float(os.environ.get("DELAY_MS", "0")) / 1000


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/health":
            body = b"ok\n"
        else:
            sleep = parse_qs(url.query).get("sleep")
            time.sleep(float(sleep[0]) / 1000 if sleep else DELAY)
            body = (NAME + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Server", NAME)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Agent(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            with open("/run/delay-app/%s.agent" % NAME) as fh:
                reply = fh.read().strip() or "up"
        except OSError:
            reply = "up"
        self.request.sendall((reply + "\n").encode())


class AgentServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


ThreadingHTTPServer.daemon_threads = True
agent = AgentServer(("0.0.0.0", AGENT_PORT), Agent)
threading.Thread(target=agent.serve_forever, daemon=True).start()
ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
