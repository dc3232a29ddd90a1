#!/usr/bin/python3
"""Test webhook receiver: appends every POSTed body (one JSON a line) to EVENTS."""
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

EVENTS = os.environ.get("EVENTS", "/var/lib/webhook-sink/events.jsonl")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(EVENTS, "ab") as fh:
            fh.write(body.strip() + b"\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("0.0.0.0", int(os.environ.get("PORT", "9999"))), Handler).serve_forever()
