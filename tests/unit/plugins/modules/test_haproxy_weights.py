# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module-level tests of haproxy_weights.

The module runs as Ansible runs it (a subprocess reading an args file) against
``FakeHAProxy``: a real unix socket server that speaks the runtime API
commands the module uses and records every command it receives.
"""

import csv
import io
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[4]
COLLECTIONS = ROOT / 'build' / 'collections'
MODULES = 'ansible_collections.groundwork.platform.plugins.modules.'

# Header of `show stat` in HAProxy 2.6 (Debian 12), up to the columns the modules read.
STAT_COLUMNS = (
    'pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,'
    'wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,'
    'throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,'
    'check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,'
    'req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,'
    'lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,'
    'agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,'
    'agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,'
    'intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,'
    'qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,'
    'used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,'
    'agg_check_status,-'
).split(',')


def server_row(backend, name, weight, status='UP', rtime=10, stot=100, econ=0, eresp=0,
               mode='http', bck=0, check_status='L4OK'):
    return {'pxname': backend, 'svname': name, 'status': status, 'weight': weight,
            'uweight': weight, 'rtime': rtime, 'ttime': rtime * 2, 'qtime': 0, 'ctime': 0,
            'stot': stot, 'econ': econ, 'eresp': eresp, 'mode': mode, 'bck': bck,
            'act': 1 - bck, 'type': 2, 'check_status': check_status}


class FakeHAProxy:
    """Unix-socket runtime API: `show stat`, `show servers state`, `set server ... weight`."""

    def __init__(self, path, rows):
        self.path = str(path)
        self.rows = rows
        self.commands = []
        self.refuse_set = False
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def set_commands(self):
        return [c for c in self.commands if c.startswith('set ')]

    def weight(self, backend, server):
        return next(r['uweight'] for r in self.rows
                    if r['pxname'] == backend and r['svname'] == server)

    def _stat(self):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=STAT_COLUMNS, extrasaction='ignore',
                                lineterminator='\n')
        out.write('# ' + ','.join(STAT_COLUMNS) + ',\n')
        backends = []
        for row in self.rows:
            writer.writerow(row)
            if row['pxname'] not in backends:
                backends.append(row['pxname'])
        for backend in backends:
            writer.writerow({'pxname': backend, 'svname': 'BACKEND', 'status': 'UP', 'type': 1})
        return out.getvalue() + '\n'

    def _answer(self, command):
        words = command.split()
        if command == 'show stat':
            return self._stat()
        if command == 'show servers state':
            return '1\n# be_name srv_name srv_uweight\n' + ''.join(
                '%s %s %s\n' % (r['pxname'], r['svname'], r['uweight']) for r in self.rows) + '\n'
        if len(words) == 5 and words[:2] == ['set', 'server'] and words[3] == 'weight':
            if self.refuse_set:
                return 'Permission denied\n\n'
            backend, _sep, name = words[2].partition('/')
            for row in self.rows:
                if row['pxname'] == backend and row['svname'] == name:
                    row['uweight'] = row['weight'] = int(words[4])
                    return '\n'
            return 'No such server.\n\n'
        return 'Unknown command.\n\n'

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except socket.timeout:
                continue
            with conn:
                data = b''
                while not data.endswith(b'\n'):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                command = data.decode().strip()
                with self._lock:
                    self.commands.append(command)
                    answer = self._answer(command)
                conn.sendall(answer.encode())

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


@pytest.fixture
def tmp(tmp_path):
    # unix socket paths are limited to 108 bytes; pytest's tmp_path can be longer.
    short = pathlib.Path(tempfile.mkdtemp(prefix='gw-'))
    yield short
    for child in short.iterdir():
        child.unlink()
    short.rmdir()


@pytest.fixture
def haproxy(tmp):
    fake = FakeHAProxy(tmp / 'admin.sock', [
        server_row('be', 'fast', 100, rtime=10),
        server_row('be', 'slow', 100, rtime=40),
        server_row('be', 'dead', 50, status='DOWN', check_status='L4CON'),
        server_row('be', 'maint', 7, status='MAINT'),
        server_row('other', 'x', 1, rtime=10),
    ])
    yield fake
    fake.close()


def run_module(name, args, check_mode=False, diff=False, tmpdir=None):
    """Run a module like Ansible does and return (rc, result)."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with tempfile.NamedTemporaryFile('w', suffix='.json', dir=tmpdir, delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    try:
        proc = subprocess.run([sys.executable, '-m', MODULES + name, handle.name],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
    finally:
        os.unlink(handle.name)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        pytest.fail('module printed no JSON: stdout=%r stderr=%r' % (proc.stdout, proc.stderr))
    return proc.returncode, result


def tune(haproxy, check_mode=False, diff=False, **args):
    base = {'socket': haproxy.path, 'backends': ['be'], 'max_step': 100, 'smoothing': 1.0,
            'dead_band': 0}
    base.update(args)
    return run_module('haproxy_weights', base, check_mode=check_mode, diff=diff)


def by_server(result):
    return {s['server']: s for s in result['servers']}


def test_check_mode_reports_without_applying(haproxy):
    rc, result = tune(haproxy, check_mode=True, diff=True)
    assert rc == 0, result
    assert result['changed'] is True
    servers = by_server(result)
    assert (servers['slow']['old_weight'], servers['slow']['new_weight']) == (100, 25)
    assert servers['dead']['new_weight'] == 0 and servers['dead']['action'] == 'failing'
    assert servers['maint']['new_weight'] == 7 and servers['maint']['changed'] is False
    assert 'fast' in servers and 'x' not in servers
    assert haproxy.set_commands == []
    assert haproxy.weight('be', 'slow') == 100
    assert 'be/slow weight 100' in result['diff'][0]['before']
    assert 'be/slow weight 25' in result['diff'][0]['after']


def test_apply_then_idempotent(haproxy):
    rc, result = tune(haproxy)
    assert rc == 0 and result['changed'] is True, result
    assert sorted(haproxy.set_commands) == ['set server be/dead weight 0',
                                            'set server be/slow weight 25']
    assert haproxy.weight('be', 'slow') == 25 and haproxy.weight('be', 'dead') == 0
    assert result['weights'] == {'be': {'fast': 100, 'slow': 25, 'dead': 0, 'maint': 7}}

    rc, again = tune(haproxy)
    assert rc == 0 and again['changed'] is False, again
    assert len(haproxy.set_commands) == 2


def test_step_limit_and_dead_band_through_module(haproxy):
    rc, result = tune(haproxy, max_step=10, smoothing=0.5, dead_band=5)
    assert rc == 0, result
    assert by_server(result)['slow']['new_weight'] == 90
    assert 'moving toward target 25' in by_server(result)['slow']['reason']


def test_weights_file_written_once_and_merged(haproxy, tmp):
    path = tmp / 'weights.json'
    path.write_text(json.dumps({'backends': {'keep': {'k1': 3}}}))
    rc, result = tune(haproxy, weights_file=str(path), check_mode=True, diff=True)
    assert rc == 0 and result['weights_file_changed'] is True
    assert json.loads(path.read_text()) == {'backends': {'keep': {'k1': 3}}}
    assert '"slow": 25' in result['diff'][1]['after']

    rc, result = tune(haproxy, weights_file=str(path))
    assert rc == 0 and result['weights_file_changed'] is True
    assert json.loads(path.read_text()) == {'backends': {
        'keep': {'k1': 3}, 'be': {'fast': 100, 'slow': 25, 'dead': 0, 'maint': 7}}}

    rc, result = tune(haproxy, weights_file=str(path))
    assert rc == 0 and result['changed'] is False and result['weights_file_changed'] is False


def test_server_state_file_dumped_when_weights_move(haproxy, tmp):
    path = tmp / 'server-state'
    rc, result = tune(haproxy, server_state_file=str(path))
    assert rc == 0 and result['server_state_file_changed'] is True
    assert 'be slow 25' in path.read_text()
    rc, result = tune(haproxy, server_state_file=str(path))
    assert rc == 0 and result['changed'] is False and result['server_state_file_changed'] is False


def test_bad_weights_file_stops_before_any_change(haproxy, tmp):
    path = tmp / 'weights.json'
    path.write_text('{not json')
    rc, result = tune(haproxy, weights_file=str(path))
    assert rc != 0 and 'weights_file' in result['msg']
    assert haproxy.set_commands == []


@pytest.mark.parametrize('args,fragment', [
    ({'max_weight': 300}, 'max_weight'),
    ({'min_weight': 50, 'max_weight': 10}, 'min_weight'),
    ({'smoothing': 0.0}, 'smoothing'),
    ({'max_step': 0}, 'max_step'),
    ({'dead_band': -1}, 'dead_band'),
    ({'error_penalty': -1.0}, 'error_penalty'),
    ({'latency_metric': 'fastest'}, 'latency_metric'),
    ({'backends': ['be', 'nope']}, 'nope'),
    ({'backends': []}, 'backends'),
    ({'timeout': 0}, 'timeout'),
])
def test_bad_parameters_fail_naming_them(haproxy, args, fragment):
    rc, result = tune(haproxy, **args)
    assert rc != 0 and result['failed'] is True
    assert fragment in result['msg']
    assert haproxy.set_commands == []


def test_unreachable_socket_fails_clearly(tmp):
    rc, result = run_module('haproxy_weights', {'socket': str(tmp / 'none.sock'),
                                                'backends': ['be']})
    assert rc != 0 and 'cannot connect to HAProxy runtime API' in result['msg']


def test_refused_command_fails_and_reports(haproxy):
    haproxy.refuse_set = True
    rc, result = tune(haproxy)
    assert rc != 0 and 'Permission denied' in result['msg']
    assert result['applied'] == []
