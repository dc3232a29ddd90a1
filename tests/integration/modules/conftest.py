# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures that start real HAProxy, PostgreSQL and Redis on loopback.

Everything listens on 127.0.0.1, on free high ports, with its data, sockets
and logs under a temporary directory, and is stopped (by process id) at the
end. Nothing is started through systemd and no system-wide configuration is
touched.

Prerequisites are the Debian packages ``haproxy``, ``postgresql``,
``redis-server`` and ``redis-sentinel``. When one is missing and the tests run
as root on a machine with apt, they are installed first
(``apt-get install -y --no-install-recommends ...``); otherwise the tests FAIL
with the list of packages to install. They never skip.

PostgreSQL refuses to run as root: as root, the clusters run as the
``postgres`` user that the Debian package creates (via ``runuser``).

Modules run through ``ansible-playbook`` (the ``ansible.builtin.json``
callback), so AnsiballZ packaging and the collection's module_utils imports are
exercised as in production.
"""

import glob
import os
import pathlib
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import http.server
import socketserver

import pytest

from _helpers import (ANSIBLE_PLAYBOOK, MONITOR_PASSWORD, PG_PASSWORD, REDIS_PASSWORD,
                      SENTINEL_PASSWORD, free_port, runtime, wait_for)

PACKAGES = {
    'haproxy': ['haproxy'],
    'redis-server': ['redis-server'],
    'redis-sentinel': ['redis-sentinel'],
    'postgresql': ['postgresql'],
}


# ---------------------------------------------------------------------------
# Prerequisites

def _pg_bindir():
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin/pg_ctl'),
                        key=lambda p: int(p.split('/')[4]) if p.split('/')[4].isdigit() else 0)
    return os.path.dirname(candidates[-1]) if candidates else None


def _missing():
    missing = []
    for binary, packages in (('haproxy', PACKAGES['haproxy']),
                             ('redis-server', PACKAGES['redis-server']),
                             ('redis-sentinel', PACKAGES['redis-sentinel'])):
        if shutil.which(binary) is None:
            missing.extend(packages)
    if _pg_bindir() is None:
        missing.extend(PACKAGES['postgresql'])
    return missing


def ensure_prerequisites():
    missing = _missing()
    if missing and os.geteuid() == 0 and shutil.which('apt-get'):
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        proc = subprocess.run(['apt-get', 'install', '-y', '--no-install-recommends'] + missing,
                              capture_output=True, text=True, env=env, timeout=900, check=False)
        if proc.returncode != 0:
            pytest.fail('apt-get install %s failed:\n%s' % (' '.join(missing), proc.stderr[-3000:]))
        missing = _missing()
    if missing:
        pytest.fail('integration tests need the Debian packages: %s '
                    '(apt-get install %s)' % (', '.join(missing), ' '.join(missing)))
    if not ANSIBLE_PLAYBOOK.exists():
        pytest.fail('ansible-playbook not found next to %s' % sys.executable)


@pytest.fixture(scope='session', autouse=True)
def prerequisites():
    ensure_prerequisites()


# ---------------------------------------------------------------------------
# Helpers

class Processes:
    """Started processes, stopped by pid at teardown."""

    def __init__(self):
        self.procs = []

    def start(self, argv, log, **kwargs):
        handle = open(log, 'ab')
        proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, **kwargs)
        handle.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def stop_all(self):
        for proc in reversed(self.procs):
            self.stop(proc)


@pytest.fixture
def workdir():
    # Short path: unix socket paths are limited to 108 bytes.
    path = pathlib.Path(tempfile.mkdtemp(prefix='gwit-'))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def processes():
    procs = Processes()
    yield procs
    procs.stop_all()


# ---------------------------------------------------------------------------
# HTTP backends with a fixed delay

class _Threaded(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def http_backend(delay_s):
    """Start an HTTP server on loopback answering 200 after delay_s; return it."""
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.0'

        def do_GET(self):
            time.sleep(delay_s)  # test fixture: simulates a slower server
            body = b'ok\n'
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = _Threaded(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1},
                     daemon=True).start()
    return server


@pytest.fixture
def http_backends():
    servers = []

    def start(delay_s):
        server = http_backend(delay_s)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------
# HAProxy

class HAProxy:
    def __init__(self, workdir, processes, body, name='haproxy'):
        self.dir = workdir
        self.processes = processes
        self.socket = workdir / ('%s.sock' % name)
        self.state_file = workdir / ('%s.state' % name)
        self.stats_port = free_port()
        self.config = workdir / ('%s.cfg' % name)
        self.log = workdir / ('%s.log' % name)
        self.config.write_text(
            'global\n'
            '  stats socket %s mode 600 level admin\n'
            '  server-state-file %s\n'
            'defaults\n'
            '  timeout connect 2s\n'
            '  timeout client 10s\n'
            '  timeout server 10s\n'
            '  load-server-state-from-file global\n'
            'listen stats\n'
            '  mode http\n'
            '  bind 127.0.0.1:%d\n'
            '  stats enable\n'
            '  stats uri /stats\n'
            % (self.socket, self.state_file, self.stats_port) + body)
        check = subprocess.run(['haproxy', '-c', '-f', str(self.config)], capture_output=True,
                               text=True, timeout=30, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        self.proc = None
        self.start()

    @property
    def stats_url(self):
        return 'http://127.0.0.1:%d/stats' % self.stats_port

    def start(self):
        self.proc = self.processes.start(['haproxy', '-db', '-f', str(self.config)], self.log)
        wait_for(lambda: self.socket.exists() and runtime(self.socket, 'show info'), 30,
                 'haproxy runtime socket')

    def stop(self):
        self.processes.stop(self.proc)
        if self.socket.exists():
            self.socket.unlink()

    def command(self, text):
        return runtime(self.socket, text)

    def stat(self, backend, server):
        lines = self.command('show stat').splitlines()
        header = lines[0].lstrip('# ').split(',')
        for line in lines[1:]:
            row = dict(zip(header, line.split(',')))
            if row.get('pxname') == backend and row.get('svname') == server:
                return row
        return None

    def weight(self, backend, server):
        return int(self.command('get weight %s/%s' % (backend, server)).split()[0])


@pytest.fixture
def start_haproxy(workdir, processes):
    def start(body, name='haproxy'):
        return HAProxy(workdir, processes, body, name)
    return start


# ---------------------------------------------------------------------------
# PostgreSQL: a primary and a streaming replica

class PostgresCluster:
    def __init__(self, workdir):
        self.bindir = _pg_bindir()
        self.dir = workdir / 'pg'
        self.dir.mkdir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            user = pwd.getpwnam('postgres')
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.ports = {'pg1': free_port(), 'pg2': free_port()}
        self.datadirs = {name: self.dir / name for name in self.ports}
        pwfile = self.dir / 'pwfile'
        self._write(pwfile, PG_PASSWORD + '\n')
        self._pg('initdb', '-D', str(self.datadirs['pg1']), '-U', 'postgres',
                 '--pwfile', str(pwfile), '--auth', 'scram-sha-256', '-E', 'UTF8',
                 '--no-sync')
        with open(self.datadirs['pg1'] / 'postgresql.conf', 'a') as conf:
            conf.write("listen_addresses = '127.0.0.1'\n"
                       "unix_socket_directories = '%s'\n"
                       "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\n"
                       "fsync = off\nshared_buffers = 16MB\nmax_connections = 20\n"
                       % self.dir)
        with open(self.datadirs['pg1'] / 'pg_hba.conf', 'w') as hba:
            hba.write('local all all scram-sha-256\n'
                      'host all all 127.0.0.1/32 scram-sha-256\n'
                      'host replication all 127.0.0.1/32 scram-sha-256\n')
        self.start('pg1')
        self.sql('pg1', "CREATE ROLE monitor LOGIN PASSWORD '%s'; GRANT pg_monitor TO monitor"
                 % MONITOR_PASSWORD)
        self._pg('pg_basebackup', '-h', '127.0.0.1', '-p', str(self.ports['pg1']),
                 '-U', 'postgres', '-D', str(self.datadirs['pg2']), '-R', '-X', 'stream',
                 '--no-sync')
        self.start('pg2')
        wait_for(lambda: self.sql('pg1', 'SELECT count(*) FROM pg_stat_replication '
                                         "WHERE state = 'streaming'") == '1',
                 60, 'pg2 streaming from pg1')

    def _write(self, path, text):
        path.write_text(text)
        if self.as_root:
            user = pwd.getpwnam('postgres')
            os.chown(path, user.pw_uid, user.pw_gid)

    def _argv(self, binary, *args):
        argv = [os.path.join(self.bindir, binary)] + list(args)
        return ['runuser', '-u', 'postgres', '--'] + argv if self.as_root else argv

    def _pg(self, binary, *args):
        env = dict(os.environ, PGPASSWORD=PG_PASSWORD)
        proc = subprocess.run(self._argv(binary, *args), capture_output=True, text=True,
                              env=env, timeout=180, cwd=str(self.dir), check=False)
        assert proc.returncode == 0, '%s failed: %s%s' % (binary, proc.stdout, proc.stderr)
        return proc.stdout

    def start(self, name):
        self._pg('pg_ctl', '-D', str(self.datadirs[name]), '-l',
                 str(self.dir / ('%s.log' % name)), '-o',
                 '-p %d -k %s' % (self.ports[name], self.dir), '-w', '-t', '60', 'start')

    def stop(self, name):
        self._pg('pg_ctl', '-D', str(self.datadirs[name]), '-m', 'fast', '-w', 'stop')

    def promote(self, name):
        self._pg('pg_ctl', '-D', str(self.datadirs[name]), '-w', 'promote')

    def is_running(self, name):
        return (self.datadirs[name] / 'postmaster.pid').exists()

    def sql(self, name, query):
        env = dict(os.environ, PGPASSWORD=PG_PASSWORD)
        proc = subprocess.run([os.path.join(self.bindir, 'psql'), '-h', '127.0.0.1', '-p',
                               str(self.ports[name]), '-U', 'postgres', '-d', 'postgres',
                               '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', query],
                              capture_output=True, text=True, env=env, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def stop_all(self):
        for name in self.datadirs:
            if self.is_running(name):
                subprocess.run(self._argv('pg_ctl', '-D', str(self.datadirs[name]), '-m',
                                          'immediate', '-w', 'stop'),
                               capture_output=True, timeout=60, cwd=str(self.dir), check=False)

    def members(self):
        return [{'name': name, 'host': '127.0.0.1', 'port': port}
                for name, port in sorted(self.ports.items())]


@pytest.fixture
def pg_cluster(workdir):
    cluster = PostgresCluster(workdir)
    yield cluster
    cluster.stop_all()


# ---------------------------------------------------------------------------
# Redis: a primary, a replica and one Sentinel

class RedisCluster:
    def __init__(self, workdir, processes):
        self.dir = workdir / 'redis'
        self.dir.mkdir()
        self.ports = {'r1': free_port(), 'r2': free_port()}
        self.sentinel_port = free_port()
        self.procs = {}
        for name, port in self.ports.items():
            argv = ['redis-server', '--port', str(port), '--bind', '127.0.0.1',
                    '--dir', str(self.dir), '--dbfilename', '%s.rdb' % name,
                    '--appendonly', 'no', '--save', '', '--protected-mode', 'yes',
                    '--requirepass', REDIS_PASSWORD, '--masterauth', REDIS_PASSWORD,
                    '--daemonize', 'no']
            if name == 'r2':
                argv += ['--replicaof', '127.0.0.1', str(self.ports['r1'])]
            self.procs[name] = processes.start(argv, self.dir / ('%s.log' % name))
        conf = self.dir / 'sentinel.conf'
        conf.write_text(
            'port %d\nbind 127.0.0.1\ndir %s\nrequirepass %s\n'
            'sentinel monitor mymaster 127.0.0.1 %d 1\n'
            'sentinel auth-pass mymaster %s\n'
            'sentinel down-after-milliseconds mymaster 1000\n'
            'sentinel failover-timeout mymaster 10000\n'
            % (self.sentinel_port, self.dir, SENTINEL_PASSWORD, self.ports['r1'],
               REDIS_PASSWORD))
        self.procs['sentinel'] = processes.start(['redis-sentinel', str(conf)],
                                                 self.dir / 'sentinel.log')
        wait_for(lambda: self.role('r2')[3] == 'connected', 60, 'r2 replicating from r1')
        wait_for(lambda: self.sentinel('get-master-addr-by-name', 'mymaster'), 60,
                 'sentinel to answer')
        # Sentinel finds replicas through the primary's INFO (every 10 s); a failover
        # before that answers NOGOODSLAVE.
        wait_for(self.sentinel_knows_replica, 60, 'sentinel to discover r2')

    def sentinel_knows_replica(self):
        for entry in self.sentinel('replicas', 'mymaster'):
            fields = dict(zip(entry[::2], entry[1::2]))
            if fields.get('port') == str(self.ports['r2']) and fields.get('flags') == 'slave' \
                    and fields.get('master-link-status') == 'ok':
                return True
        return False

    def client(self, port, password):
        import redis
        return redis.Redis(host='127.0.0.1', port=port, password=password,
                           socket_timeout=5, decode_responses=True, protocol=2)

    def role(self, name):
        with self.client(self.ports[name], REDIS_PASSWORD) as client:
            return client.execute_command('ROLE')

    def sentinel(self, *args):
        with self.client(self.sentinel_port, SENTINEL_PASSWORD) as client:
            return client.execute_command('SENTINEL', *args)

    def members(self):
        return [{'name': name, 'host': '127.0.0.1', 'port': port}
                for name, port in sorted(self.ports.items())]


@pytest.fixture
def redis_cluster(workdir, processes):
    return RedisCluster(workdir, processes)
