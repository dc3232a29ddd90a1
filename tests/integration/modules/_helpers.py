# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the integration tests and their fixtures (see conftest.py)."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
COLLECTIONS = ROOT / 'build' / 'collections'
ANSIBLE_PLAYBOOK = pathlib.Path(sys.executable).parent / 'ansible-playbook'

# Throwaway credentials of the services the fixtures start on loopback.
PG_PASSWORD = 'integration-superuser-pw'
MONITOR_PASSWORD = 'integration-monitor-pw'
REDIS_PASSWORD = 'integration-redis-pw'
SENTINEL_PASSWORD = 'integration-sentinel-pw'


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout, what):
    """Poll predicate (bounded) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the service is still starting
            last = exc
        time.sleep(0.2)
    pytest.fail('timed out after %ss waiting for %s (last error: %r)' % (timeout, what, last))


def runtime(socket_path, command):
    """One HAProxy runtime API command.

    Deliberately independent of the collection's HAProxyRuntime client: the tests
    check what the modules did without trusting the modules' own code.
    """
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(socket_path))
        sock.sendall(command.encode() + b'\n')
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b''.join(chunks).decode()


# Modules run through ansible-playbook (json callback), as in production.
def run_module(module, args, workdir, check=False, diff=False):
    """Run one task with the module on localhost; return the task result dict."""
    play = [{
        'hosts': 'localhost',
        'gather_facts': False,
        'tasks': [{'name': 'module under test', module: args, 'ignore_errors': True}],
    }]
    playbook = pathlib.Path(tempfile.mkstemp(dir=workdir, suffix='.yml')[1])
    playbook.write_text(json.dumps(play))  # JSON is YAML
    env = dict(os.environ,
               ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json',
               ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
               ANSIBLE_LOCAL_TEMP=str(workdir / 'ansible-local'),
               ANSIBLE_REMOTE_TEMP=str(workdir / 'ansible-remote'),
               ANSIBLE_NOCOLOR='1')
    argv = [str(ANSIBLE_PLAYBOOK), '-i', 'localhost,', '-c', 'local',
            '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook)]
    if check:
        argv.append('--check')
    if diff:
        argv.append('--diff')
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    try:
        report = json.loads(proc.stdout)
        return report['plays'][0]['tasks'][0]['hosts']['localhost']
    except (ValueError, KeyError, IndexError):
        pytest.fail('ansible-playbook gave no result (rc %s):\n%s\n%s'
                    % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
