# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_weights against a real HAProxy with a fast, a slow and a dead backend server."""

import json
import time
import urllib.request

import pytest

from _helpers import free_port, run_module, wait_for

REQUESTS = 120          # bounded load: this many requests ...
LOAD_DEADLINE_S = 90    # ... or this many seconds, whichever comes first


def generate_load(port):
    deadline = time.monotonic() + LOAD_DEADLINE_S
    done = 0
    while done < REQUESTS and time.monotonic() < deadline:
        with urllib.request.urlopen('http://127.0.0.1:%d/' % port, timeout=10) as response:
            assert response.status == 200
        done += 1
    assert done == REQUESTS, 'load generation hit its deadline after %d requests' % done


@pytest.fixture
def web(start_haproxy, http_backends):
    fast = http_backends(0.0)
    slow = http_backends(0.05)
    front = free_port()
    haproxy = start_haproxy(
        'frontend fe_web\n'
        '  mode http\n'
        '  bind 127.0.0.1:%d\n'
        '  default_backend be_web\n'
        'backend be_web\n'
        '  mode http\n'
        '  balance roundrobin\n'
        '  server fast 127.0.0.1:%d weight 100 check inter 300ms\n'
        '  server slow 127.0.0.1:%d weight 100 check inter 300ms\n'
        '  server dead 127.0.0.1:%d weight 100 check inter 300ms fall 2\n'
        % (front, fast.server_address[1], slow.server_address[1], free_port()))
    wait_for(lambda: haproxy.stat('be_web', 'dead')['status'] == 'DOWN', 30, 'dead to be DOWN')
    generate_load(front)
    return haproxy


def tune(haproxy, workdir, check=False, diff=False, **args):
    base = {'socket': str(haproxy.socket), 'backends': ['be_web'], 'max_step': 100,
            'smoothing': 1.0, 'dead_band': 2, 'max_weight': 100}
    base.update(args)
    return run_module('groundwork.platform.haproxy_weights', base, workdir, check=check,
                      diff=diff)


def by_server(result):
    return {s['server']: s for s in result['servers']}


def test_check_mode_decides_without_applying(web, workdir):
    result = tune(web, workdir, check=True, diff=True)
    assert not result.get('failed'), result
    assert result['changed'] is True
    servers = by_server(result)
    assert servers['dead']['new_weight'] == 0 and servers['dead']['action'] == 'failing'
    assert servers['slow']['new_weight'] < servers['fast']['new_weight'] == 100
    assert servers['slow']['latency_ms'] > servers['fast']['latency_ms']
    # nothing applied
    assert [web.weight('be_web', s) for s in ('fast', 'slow', 'dead')] == [100, 100, 100]
    assert 'be_web/slow weight 100' in result['diff'][0]['before']


def test_apply_persist_and_converge(web, workdir):
    weights_file = workdir / 'weights.json'
    result = tune(web, workdir, weights_file=str(weights_file),
                  server_state_file=str(web.state_file))
    assert not result.get('failed'), result
    assert result['changed'] is True
    servers = by_server(result)
    slow = servers['slow']['new_weight']
    assert slow < 100
    assert web.weight('be_web', 'slow') == slow
    assert web.weight('be_web', 'fast') == 100
    assert web.weight('be_web', 'dead') == 0
    assert json.loads(weights_file.read_text()) == {
        'backends': {'be_web': {'fast': 100, 'slow': slow, 'dead': 0}}}

    # Same statistics (no traffic in between): nothing moves, nothing is written.
    again = tune(web, workdir, weights_file=str(weights_file),
                 server_state_file=str(web.state_file))
    assert again['changed'] is False, again
    assert not any(s['changed'] for s in again['servers'])

    # A restart reading the server-state file keeps the tuned weights.
    web.stop()
    web.start()
    assert web.weight('be_web', 'slow') == slow
    assert web.weight('be_web', 'dead') == 0


def test_bad_parameter_changes_nothing(web, workdir):
    result = tune(web, workdir, min_weight=90, max_weight=50)
    assert result.get('failed') is True
    assert 'min_weight' in result['msg']
    assert web.weight('be_web', 'slow') == 100
