# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module-level tests of failover_check.

The module runs as a subprocess (as Ansible runs it) against real loopback
servers started by the tests: TCP listeners, an HTTP server, the fake HAProxy
runtime socket of test_haproxy_weights and a small RESP server that answers
``ROLE`` and ``SENTINEL get-master-addr-by-name`` like Redis and Sentinel do.
PostgreSQL is exercised against the real server in tests/integration.
"""

import http.server
import json
import os
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading

import pytest

from test_haproxy_weights import (  # same directory; pytest puts it on sys.path
    COLLECTIONS,
    MODULES,
    FakeHAProxy,
    run_module,
    server_row,
)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class _Threaded(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1},
                              daemon=True)
    thread.start()
    return server


@pytest.fixture
def http_app():
    """HTTP server on loopback whose status code tests can change."""
    class Handler(http.server.BaseHTTPRequestHandler):
        status = 200

        def do_GET(self):
            self.send_response(Handler.status)
            self.send_header('Content-Length', '2')
            self.end_headers()
            self.wfile.write(b'ok')

        def log_message(self, *args):
            pass

    server = serve(_Threaded(('127.0.0.1', 0), Handler))
    server.handler = Handler
    yield server
    server.shutdown()
    server.server_close()


def resp(value):
    if value is None:
        return b'$-1\r\n'
    if isinstance(value, int):
        return b':%d\r\n' % value
    if isinstance(value, (list, tuple)):
        return b'*%d\r\n' % len(value) + b''.join(resp(v) for v in value)
    data = str(value).encode()
    return b'$%d\r\n%s\r\n' % (len(data), data)


class FakeRedis:
    """RESP server: ROLE answers ``role``; SENTINEL answers ``master_addr``; rest +OK."""

    def __init__(self, role=None, master_addr=None):
        self.role = role
        self.master_addr = master_addr
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    count = int(line[1:])
                    words = []
                    for _index in range(count):
                        size = int(self.rfile.readline()[1:])
                        words.append(self.rfile.read(size + 2)[:-2].decode())
                    command = words[0].upper()
                    if command == 'ROLE' and fake.role is not None:
                        answer = resp(fake.role)
                    elif command == 'SENTINEL' and fake.master_addr is not None:
                        answer = resp(list(fake.master_addr))
                    elif command in ('ROLE', 'SENTINEL'):
                        answer = b'-ERR unknown command\r\n'
                    else:
                        answer = b'+OK\r\n'
                    self.wfile.write(answer)

        self.server = serve(_Threaded(('127.0.0.1', 0), Handler))
        self.port = self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fakes():
    started = []

    def start(**kwargs):
        fake = FakeRedis(**kwargs)
        started.append(fake)
        return fake
    yield start
    for fake in started:
        fake.close()


@pytest.fixture
def short_dir():
    path = tempfile.mkdtemp(prefix='gw-')
    yield path
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)


def check(args, check_mode=False):
    # A generous latency threshold: a loaded CI machine must not make loopback "slow".
    args = dict({'latency_threshold_ms': 5000.0}, **args)
    return run_module('failover_check', args, check_mode=check_mode)


# ---------------------------------------------------------------------------
# Generic service: TCP, HTTP, latency, HAProxy

def test_generic_members_healthy_and_down(http_app, short_dir):
    app_port = http_app.server_address[1]
    dead_port = free_port()
    haproxy = FakeHAProxy(os.path.join(short_dir, 'admin.sock'), [
        server_row('be_app', 'app1', 10), server_row('be_app', 'app2', 10, status='DOWN')])
    try:
        args = {
            'members': [{'name': 'app1', 'host': '127.0.0.1', 'port': app_port},
                        {'name': 'app2', 'host': 'localhost', 'port': dead_port,
                         'http_url': 'http://127.0.0.1:%d/health' % dead_port}],
            'http': {'port': app_port, 'path': 'health'},
            'haproxy': {'socket': haproxy.path, 'backend': 'be_app'},
            'fail_on': [],
        }
        rc, result = check(args)
        assert rc == 0, result
        members = result['members']
        assert members['app1']['state'] == 'healthy', members['app1']
        assert members['app1']['signals'] == {'tcp': 'up', 'http': 'up', 'latency': 'up',
                                              'haproxy': 'up'}
        assert members['app1']['observations']['http']['url'] == \
            'http://127.0.0.1:%d/health' % app_port
        assert members['app2']['state'] == 'down', members['app2']
        assert members['app2']['signals'] == {'tcp': 'down', 'http': 'down', 'haproxy': 'down'}
        assert result['confidence'] == 1.0 and result['primary'] is None
        assert result['findings'] == ['member_missing', 'member_unhealthy']
        assert result['changed'] is False

        rc, result = check(dict(args, fail_on=['member_missing']), check_mode=True)
        assert rc != 0 and result['failed_findings'] == ['member_missing']
        assert 'member_missing' in result['msg']
    finally:
        haproxy.close()


def test_http_error_status_and_slow_member_are_degraded(http_app):
    http_app.handler.status = 503
    port = http_app.server_address[1]
    rc, result = check({
        'members': [{'name': 'app1', 'host': '127.0.0.1', 'port': port}],
        'http': {'port': port},
        'latency_threshold_ms': 0.000001,
        'min_confidence': 0.5,  # up 1.5 (tcp, latency) against down 1 (http): agreement 0.6
        'fail_on': ['member_unhealthy'],
    })
    assert rc != 0, result
    assert result['confidence'] == 0.6
    member = result['members']['app1']
    assert member['signals'] == {'tcp': 'up', 'http': 'down', 'latency': 'degraded'}
    assert member['state'] == 'degraded'
    assert member['observations']['http']['status'] == 503


def test_member_missing_from_haproxy_backend(short_dir):
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(8)
    haproxy = FakeHAProxy(os.path.join(short_dir, 'admin.sock'),
                          [server_row('be_app', 'other', 10)])
    try:
        rc, result = check({
            'members': [{'name': 'app1', 'host': '127.0.0.1',
                         'port': listener.getsockname()[1]}],
            'haproxy': {'socket': haproxy.path, 'backend': 'be_app'},
            'weights': {'haproxy': 0.5},
            'fail_on': ['member_missing'],
        })
    finally:
        haproxy.close()
        listener.close()
    assert rc != 0
    assert result['reconciliation']['missing_members'] == [
        {'name': 'app1', 'reason': 'not a server of the HAProxy backend'}]


# ---------------------------------------------------------------------------
# Redis role signals and Sentinel, through a RESP server

def redis_cluster(fakes, second_role=None):
    primary = fakes(role=['master', 1000, []])
    replica = fakes(role=second_role or ['slave', '127.0.0.1', primary.port, 'connected', 990])
    sentinel = fakes(master_addr=('127.0.0.1', str(primary.port)))
    members = [{'name': 'r1', 'host': '127.0.0.1', 'port': primary.port},
               {'name': 'r2', 'host': '127.0.0.1', 'port': replica.port}]
    return members, sentinel


def test_redis_primary_observed(fakes):
    members, sentinel = redis_cluster(fakes)
    rc, result = check({
        'service': 'redis', 'members': members, 'declared_primary': 'r1',
        'redis': {'password': 'secret-password'},
        'sentinel': {'addresses': ['127.0.0.1:%d' % sentinel.port], 'master_name': 'mymaster'},
        'fail_on': ['split_brain', 'low_confidence', 'no_primary', 'declared_primary_mismatch',
                    'member_missing', 'member_unhealthy'],
    })
    assert rc == 0, result
    assert result['primary'] == 'r1' and result['confidence'] == 1.0
    assert result['members']['r2']['upstream'] == 'r1'
    assert result['members']['r2']['lag_bytes'] == 10
    assert result['sentinels'][0]['candidate'] == 'r1'
    assert 'secret-password' not in json.dumps(result)


def test_redis_declared_primary_mismatch_fails(fakes):
    members, _sentinel = redis_cluster(fakes)
    rc, result = check({'service': 'redis', 'members': members, 'declared_primary': 'r2',
                        'fail_on': ['declared_primary_mismatch']})
    assert rc != 0
    assert result['failed_findings'] == ['declared_primary_mismatch']
    assert result['reconciliation']['observed_primary'] == 'r1'


def test_redis_split_brain_fails(fakes):
    members, _sentinel = redis_cluster(fakes, second_role=['master', 5, []])
    rc, result = check({'service': 'redis', 'members': members})
    assert rc != 0
    assert 'split_brain' in result['failed_findings']
    assert result['reconciliation']['primaries'] == ['r1', 'r2']


def test_redis_error_after_connect_is_unknown_not_down(fakes):
    broken = fakes(role=None)  # answers ROLE with an error
    rc, result = check({'service': 'redis', 'fail_on': [],
                        'members': [{'name': 'r1', 'host': '127.0.0.1', 'port': broken.port}]})
    assert rc == 0
    assert result['members']['r1']['signals']['role'] == 'unknown'
    assert result['findings'] == ['low_confidence']


# ---------------------------------------------------------------------------
# Parameters and requirements

MEMBER = {'name': 'a', 'host': '127.0.0.1', 'port': 1}


@pytest.mark.parametrize('args,fragment', [
    ({'members': [MEMBER], 'declared_primary': 'zz'}, 'declared_primary'),
    ({'members': [{'name': 'a', 'host': '127.0.0.1'}]}, 'members[0].port'),
    ({'members': [MEMBER, MEMBER]}, 'members[1].name'),
    ({'members': [dict(MEMBER, port=70000)]}, 'members[0].port'),
    ({'members': []}, 'members'),
    ({'members': [MEMBER], 'sentinel': {'addresses': ['h:1'], 'master_name': 'm'}}, 'sentinel'),
    ({'members': [MEMBER], 'service': 'redis',
      'sentinel': {'addresses': ['nocolon'], 'master_name': 'm'}}, 'sentinel.addresses[0]'),
    ({'members': [MEMBER], 'weights': {'tcp': -1}}, 'weights.tcp'),
    ({'members': [MEMBER], 'min_confidence': 2}, 'min_confidence'),
    ({'members': [MEMBER], 'fail_on': ['everything']}, 'fail_on'),
    ({'members': [MEMBER], 'connect_timeout': 0}, 'connect_timeout'),
    ({'members': [MEMBER], 'http': {'port': 0}}, 'http.port'),
    ({'members': [MEMBER], 'haproxy': {'backend': 'b'}}, 'socket, stats_url'),
    ({'members': [MEMBER], 'postgresql': {'user': 'x'}}, 'postgresql'),
])
def test_bad_parameters_fail_naming_them(args, fragment):
    rc, result = check(args)
    assert rc != 0 and result['failed'] is True
    assert fragment in result['msg'], result['msg']


def test_missing_psycopg_is_reported():
    """Run the module with psycopg made unimportable."""
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': {'service': 'postgresql', 'members': [MEMBER]}},
                  handle)
    script = ('import runpy, sys; sys.modules["psycopg"] = None; '
              'runpy.run_module(%r, run_name="__main__")' % (MODULES + 'failover_check'))
    try:
        proc = subprocess.run([sys.executable, '-c', script, handle.name], capture_output=True,
                              text=True, timeout=120, check=False,
                              env=dict(os.environ, PYTHONPATH=str(COLLECTIONS)))
    finally:
        os.unlink(handle.name)
    result = json.loads(proc.stdout)
    assert proc.returncode != 0
    assert 'Failed to import the required Python library (psycopg)' in result['msg']
