# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit and property tests of the pure weight-tuning math."""

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.groundwork.platform.plugins.module_utils._weights import (
    DEFAULTS,
    FAILING,
    SKIP,
    TUNE,
    WeightParamError,
    classify_status,
    compute_backend,
    effective_latency,
    round_half_up,
    server_from_stats,
    step_weight,
    target_weights,
    validate_params,
)

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


def params(**overrides):
    return validate_params(**overrides)


def server(name, latency, weight=50, status='UP', error_ratio=0.0, backup=False):
    return {'name': name, 'weight': weight, 'status': status, 'latency_ms': latency,
            'error_ratio': error_ratio, 'backup': backup}


# ---------------------------------------------------------------------------
# Parameters

def test_defaults_are_valid():
    assert validate_params() == dict(DEFAULTS)


@pytest.mark.parametrize('name,value', [
    ('min_weight', -1), ('min_weight', 257), ('max_weight', 0), ('max_weight', 300),
    ('max_step', 0), ('max_step', 257), ('dead_band', -1), ('dead_band', 1.5),
    ('max_weight', True), ('smoothing', 0), ('smoothing', 1.01), ('smoothing', float('nan')),
    ('error_penalty', -0.1), ('min_latency_ms', 0), ('min_latency_ms', 'fast'),
])
def test_bad_parameter_is_named(name, value):
    with pytest.raises(WeightParamError, match=name):
        validate_params(**{name: value})


def test_min_above_max_is_refused():
    with pytest.raises(WeightParamError, match='min_weight .* max_weight'):
        validate_params(min_weight=50, max_weight=10)


def test_unknown_parameter_is_refused():
    with pytest.raises(WeightParamError, match='weightt'):
        validate_params(weightt=3)


def test_round_half_up_is_not_bankers_rounding():
    assert [round_half_up(x) for x in (0.5, 1.5, 2.5, 2.49)] == [1, 2, 3, 2]


# ---------------------------------------------------------------------------
# Status classification

@pytest.mark.parametrize('status,backup,expected', [
    ('UP', False, TUNE), ('UP 1/3', False, TUNE), ('no check', False, TUNE),
    ('DOWN', False, FAILING), ('DOWN 1/2', False, FAILING),
    ('MAINT', False, SKIP), ('MAINT (via be/s1)', False, SKIP), ('DRAIN', False, SKIP),
    ('NOLB', False, SKIP), ('UP', True, SKIP), ('weird', False, SKIP),
])
def test_classify_status(status, backup, expected):
    assert classify_status(status, backup)[0] == expected


def test_backup_servers_tuned_when_asked():
    assert classify_status('UP', backup=True, include_backup=True)[0] == TUNE


# ---------------------------------------------------------------------------
# Targets and steps

def test_targets_inverse_to_latency():
    p = params(max_weight=100, min_weight=1)
    assert target_weights({'a': 10.0, 'b': 20.0, 'c': 40.0}, p) == {'a': 100, 'b': 50, 'c': 25}


def test_targets_clamped_to_min_weight():
    p = params(max_weight=100, min_weight=10)
    assert target_weights({'a': 1.0, 'b': 1000.0}, p) == {'a': 100, 'b': 10}


def test_server_without_data_gets_median_target():
    p = params()
    assert target_weights({'a': 10.0, 'b': 20.0, 'c': 40.0, 'new': None}, p)['new'] == 50


def test_backend_without_data_has_no_target():
    assert target_weights({'a': None, 'b': None}, params()) == {'a': None, 'b': None}


def test_errors_make_a_server_slower():
    p = params(error_penalty=10.0)
    assert effective_latency(10.0, 0.1, p) == pytest.approx(20.0)
    assert effective_latency(0.0, 0.0, p) == p['min_latency_ms']
    assert effective_latency(None, 0.5, p) is None


def test_step_dead_band_keeps_weight():
    new, reason = step_weight(50, 54, params(dead_band=5))
    assert new == 50 and 'dead band' in reason


def test_step_smoothing_and_max_step():
    p = params(dead_band=0, smoothing=0.5, max_step=10)
    assert step_weight(50, 60, p)[0] == 55          # half the distance
    assert step_weight(50, 100, p)[0] == 60         # capped at max_step
    assert step_weight(50, 0, params(min_weight=0, dead_band=0, max_step=10))[0] == 40
    assert step_weight(50, 51, params(dead_band=0, smoothing=0.1))[0] == 51  # at least 1


def test_step_clamps_to_bounds_over_step_limit():
    p = params(min_weight=20, max_step=5, dead_band=0)
    new, reason = step_weight(0, 100, p)
    assert new == 20 and 'clamped' in reason
    assert step_weight(250, 100, params(max_weight=100, max_step=5))[0] == 100


def test_compute_backend_decisions():
    p = params(max_weight=100, max_step=100, smoothing=1.0, dead_band=0)
    decisions = compute_backend([
        server('fast', 10.0, weight=100),
        server('slow', 40.0, weight=100),
        server('dead', 5.0, weight=100, status='DOWN'),
        server('maint', 5.0, weight=7, status='MAINT'),
        server('spare', 5.0, weight=9, backup=True),
    ], p)
    by_name = {d['name']: d for d in decisions}
    assert [d['name'] for d in decisions] == ['fast', 'slow', 'dead', 'maint', 'spare']
    assert by_name['fast']['new_weight'] == 100 and not by_name['fast']['changed']
    assert by_name['slow']['new_weight'] == 25 and by_name['slow']['changed']
    assert by_name['dead']['new_weight'] == 0 and by_name['dead']['action'] == FAILING
    assert 'failing checks' in by_name['dead']['reason']
    assert by_name['maint']['new_weight'] == 7 and by_name['maint']['action'] == SKIP
    assert by_name['spare']['new_weight'] == 9 and 'backup' in by_name['spare']['reason']


def test_failing_server_goes_to_zero_despite_step_limit():
    decision = compute_backend([server('a', 1.0, weight=200, status='DOWN')],
                               params(max_weight=256, max_step=1))[0]
    assert decision['new_weight'] == 0 and decision['target'] == 0


def test_recovering_server_climbs_gradually():
    p = params(max_step=10, smoothing=0.5, dead_band=2)
    weights = []
    current = 0
    for _run in range(20):
        decisions = compute_backend([server('a', 10.0, weight=100),
                                     server('b', 10.0, weight=current)], p)
        current = decisions[1]['new_weight']
        weights.append(current)
    assert weights[:3] == [10, 20, 30]
    assert weights[-1] >= 100 - 2 and weights == sorted(weights)


def test_no_data_keeps_weights():
    decisions = compute_backend([server('a', None, weight=3), server('b', None, weight=9)],
                                params())
    assert [d['new_weight'] for d in decisions] == [3, 9]
    assert all('no latency data' in d['reason'] for d in decisions)


# ---------------------------------------------------------------------------
# Stats rows

def stats_row(**overrides):
    row = {'pxname': 'be', 'svname': 's1', 'status': 'UP', 'check_status': 'L4OK',
           'mode': 'http', 'stot': 100, 'rtime': 20, 'ttime': 50, 'ctime': 1, 'qtime': 5,
           'econ': 0, 'eresp': 0, 'weight': 10, 'uweight': 12, 'bck': 0}
    row.update(overrides)
    return row


def test_server_from_stats_http_uses_rtime_plus_qtime():
    item = server_from_stats(stats_row())
    assert item['latency_ms'] == 25.0 and item['weight'] == 12 and item['backup'] is False


def test_server_from_stats_tcp_uses_ttime():
    assert server_from_stats(stats_row(mode='tcp'), include_queue_time=False)['latency_ms'] == 50.0


def test_server_from_stats_explicit_metric_and_errors():
    item = server_from_stats(stats_row(econ=5, eresp=5, uweight=None), latency_metric='ctime',
                             include_queue_time=False)
    assert item['latency_ms'] == 1.0 and item['error_ratio'] == pytest.approx(0.1)
    assert item['weight'] == 10


def test_server_from_stats_without_sessions_has_no_data():
    assert server_from_stats(stats_row(stot=0))['latency_ms'] is None
    assert server_from_stats(stats_row(rtime=None))['latency_ms'] is None


# ---------------------------------------------------------------------------
# Properties

@st.composite
def weight_params(draw):
    max_weight = draw(st.integers(1, 256))
    return validate_params(
        max_weight=max_weight,
        min_weight=draw(st.integers(0, max_weight)),
        max_step=draw(st.integers(1, 256)),
        dead_band=draw(st.integers(0, 40)),
        smoothing=draw(st.floats(0.01, 1.0)),
        error_penalty=draw(st.floats(0.0, 50.0)),
        min_latency_ms=draw(st.floats(0.1, 10.0)),
    )


latency = st.one_of(st.none(), st.floats(0.0, 60000.0))
status = st.sampled_from(['UP', 'UP 1/3', 'no check', 'DOWN', 'DOWN 1/2', 'MAINT', 'DRAIN'])


@st.composite
def backend(draw, with_status=True):
    count = draw(st.integers(1, 8))
    return [server('s%d' % i, draw(latency), weight=draw(st.integers(0, 256)),
                   status=draw(status) if with_status else 'UP',
                   error_ratio=draw(st.floats(0.0, 1.0)))
            for i in range(count)]


@PROPERTY_SETTINGS
@given(weight_params(), backend())
def test_property_bounds(p, servers):
    for decision in compute_backend(servers, p):
        assert 0 <= decision['new_weight'] <= 256
        if decision['action'] == TUNE and decision['target'] is not None:
            assert p['min_weight'] <= decision['new_weight'] <= p['max_weight']
            assert p['min_weight'] <= decision['target'] <= p['max_weight']
        elif decision['action'] == FAILING:
            assert decision['new_weight'] == 0
        else:
            assert decision['new_weight'] == decision['old_weight']
        assert decision['changed'] == (decision['new_weight'] != decision['old_weight'])


@PROPERTY_SETTINGS
@given(weight_params(), st.lists(st.floats(0.0, 60000.0), min_size=2, max_size=8),
       st.integers(0, 256))
def test_property_slower_never_gets_more_weight(p, latencies, start):
    servers = [server('s%d' % i, lat, weight=start) for i, lat in enumerate(latencies)]
    decisions = compute_backend(servers, p)
    for a in decisions:
        for b in decisions:
            if a['latency_ms'] > b['latency_ms']:
                assert a['target'] <= b['target']
                assert a['new_weight'] <= b['new_weight']


@PROPERTY_SETTINGS
@given(weight_params(), backend())
def test_property_step_moves_toward_target_within_max_step(p, servers):
    for decision in compute_backend(servers, p):
        old, new, target = decision['old_weight'], decision['new_weight'], decision['target']
        if decision['action'] != TUNE or target is None:
            continue
        if p['min_weight'] <= old <= p['max_weight']:
            assert abs(new - old) <= p['max_step']
            assert min(old, target) <= new <= max(old, target)
        assert abs(target - new) <= abs(target - old)


@PROPERTY_SETTINGS
@given(weight_params(), backend())
def test_property_stable_input_converges_without_oscillating(p, servers):
    history = {s['name']: [s['weight']] for s in servers}
    current = servers
    # Every run that changes a tuned weight brings it strictly closer to a
    # fixed target, so 2 * 256 runs bound the convergence.
    for _run in range(2 * 256 + 2):
        decisions = compute_backend(current, p)
        if not any(d['changed'] for d in decisions):
            break
        current = [dict(s, weight=d['new_weight']) for s, d in zip(current, decisions)]
        for d in decisions:
            history[d['name']].append(d['new_weight'])
    else:
        pytest.fail('weights did not settle: %r' % history)
    # Converged: one more run changes nothing, and no weight ever reversed direction.
    assert not any(d['changed'] for d in compute_backend(current, p))
    for weights in history.values():
        steps = [b - a for a, b in zip(weights, weights[1:]) if b != a]
        assert all(x > 0 for x in steps) or all(x < 0 for x in steps), weights


@PROPERTY_SETTINGS
@given(weight_params(), backend())
def test_property_deterministic(p, servers):
    assert compute_backend(servers, p) == compute_backend([dict(s) for s in servers], p)


def test_latency_floor_ignores_millisecond_jitter():
    p = params()  # min_latency_ms 5
    assert target_weights({'a': effective_latency(1.0, 0.0, p),
                           'b': effective_latency(3.0, 0.0, p)}, p) == {'a': 100, 'b': 100}
