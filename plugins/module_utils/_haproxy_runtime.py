# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small client for the HAProxy runtime API and the stats CSV.

The runtime API (``stats socket ... level admin``) is used in its
non-interactive form: connect, send one command line, read until HAProxy
closes the connection. The address is a unix socket path, or ``HOST:PORT``
for a socket bound with ``stats socket ipv4@HOST:PORT``.

``parse_stat_csv`` is pure and shared by both modules.
"""

import csv
import io
import socket

from ansible.module_utils.urls import open_url

# Columns converted to int (empty stays None).
_INT_COLUMNS = (
    'qcur', 'scur', 'stot', 'econ', 'eresp', 'weight', 'uweight', 'act', 'bck',
    'chkfail', 'qtime', 'ctime', 'rtime', 'ttime', 'iid', 'sid', 'type',
)

# `show stat` row types (column `type`).
TYPE_FRONTEND = 0
TYPE_BACKEND = 1
TYPE_SERVER = 2


class HAProxyRuntimeError(Exception):
    """The runtime API could not be reached or refused a command."""


def _to_int(value):
    if value is None:
        return None
    value = value.strip()
    if value == '':
        return None
    try:
        return int(value)
    except ValueError:
        return None


def parse_stat_csv(text):
    """Parse `show stat` / `stats;csv` output into a list of dicts.

    The header line starts with ``# ``; columns listed in ``_INT_COLUMNS``
    become ints (None when empty), the rest stay strings.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith('#'):
        raise HAProxyRuntimeError('unexpected stats output (no CSV header): %r' % text[:200])
    lines[0] = lines[0].lstrip('#').strip()
    rows = []
    for raw in csv.DictReader(io.StringIO('\n'.join(lines))):
        row = {key: value for key, value in raw.items() if key and key != '-'}
        for column in _INT_COLUMNS:
            if column in row:
                row[column] = _to_int(row[column])
        rows.append(row)
    return rows


def server_rows(rows, backend):
    """Server rows of one backend (frontend/backend summary rows excluded)."""
    return [row for row in rows
            if row.get('pxname') == backend and row.get('svname') not in ('FRONTEND', 'BACKEND')]


def backend_names(rows):
    return sorted({row['pxname'] for row in rows if row.get('svname') == 'BACKEND'})


class HAProxyRuntime:
    """One-command-per-connection client for the HAProxy runtime API."""

    def __init__(self, address, timeout=5.0):
        self.address = address
        self.timeout = timeout

    def _connect(self):
        if self.address.startswith('/') or ':' not in self.address:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = self.address
        else:
            host, _sep, port = self.address.rpartition(':')
            sock = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET,
                                 socket.SOCK_STREAM)
            target = (host.strip('[]'), int(port))
        sock.settimeout(self.timeout)
        try:
            sock.connect(target)
        except (OSError, ValueError) as exc:
            sock.close()
            raise HAProxyRuntimeError('cannot connect to HAProxy runtime API at %s: %s'
                                      % (self.address, exc))
        return sock

    def execute(self, command):
        """Send one command and return HAProxy's full answer as text."""
        if '\n' in command or ';' in command:
            raise HAProxyRuntimeError('refusing a command with a newline or ";": %r' % command)
        sock = self._connect()
        try:
            sock.sendall(command.encode('utf-8') + b'\n')
            chunks = []
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except OSError as exc:
            raise HAProxyRuntimeError('HAProxy runtime API at %s failed on %r: %s'
                                      % (self.address, command, exc))
        finally:
            sock.close()
        return b''.join(chunks).decode('utf-8', 'replace')

    def show_stat(self):
        return parse_stat_csv(self.execute('show stat'))

    def show_servers_state(self):
        return self.execute('show servers state')

    def set_weight(self, backend, server, weight):
        """Set a server's weight; raise HAProxyRuntimeError with HAProxy's message on refusal."""
        answer = self.execute('set server %s/%s weight %d' % (backend, server, int(weight)))
        if answer.strip():
            raise HAProxyRuntimeError('HAProxy refused "set server %s/%s weight %d": %s'
                                      % (backend, server, weight, answer.strip()))


def fetch_stats_url(url, timeout=5.0, username=None, password=None, validate_certs=True):
    """Read the stats page as CSV (``;csv`` is appended unless present)."""
    if ';csv' not in url:
        url = url.rstrip('/') + ';csv'
    try:
        response = open_url(url, timeout=timeout, url_username=username, url_password=password,
                            force_basic_auth=bool(username), validate_certs=validate_certs)
        text = response.read().decode('utf-8', 'replace')
    except Exception as exc:  # open_url raises many types (URLError, HTTPError, socket errors)
        raise HAProxyRuntimeError('cannot read HAProxy stats from %s: %s' % (url, exc))
    return parse_stat_csv(text)
