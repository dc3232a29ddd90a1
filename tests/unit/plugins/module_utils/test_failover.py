# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit and property tests of the failover scoring and reconciliation."""

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.groundwork.platform.plugins.module_utils._failover import (
    DEFAULT_WEIGHTS,
    DEGRADED,
    DOWN,
    HEALTHY,
    MEMBER_SIGNALS,
    UNKNOWN,
    UP,
    FailoverParamError,
    assess,
    haproxy_verdict,
    lsn_to_int,
    match_address,
    member_state,
    member_verdicts,
    role_verdict,
    score,
    tally,
    validate_min_confidence,
    validate_weights,
)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
WEIGHTS = dict(DEFAULT_WEIGHTS)
CONFIG = {'latency_threshold_ms': 100.0, 'expected_http_status': (200,),
          'max_lag_bytes': 1000, 'haproxy_backend_role': 'any'}


def tcp(ok=True, ms=1.0):
    return {'ok': ok, 'ms': ms if ok else None, 'error': None if ok else 'refused'}


def primary(position=5000):
    return {'reachable': True, 'error': None, 'role': 'primary', 'position': position,
            'upstream': None, 'link_ok': None}


def replica(upstream, position=5000, link_ok=True):
    return {'reachable': True, 'error': None, 'role': 'replica', 'position': position,
            'upstream': upstream, 'link_ok': link_ok}


def unreachable():
    return {'reachable': False, 'error': 'connection refused'}


def cluster(**roles):
    """Members with TCP up (or down when the role is unreachable) and the given role."""
    return {name: {'tcp': tcp(role.get('reachable', True)), 'role': role}
            for name, role in roles.items()}


# ---------------------------------------------------------------------------
# Parameters and small helpers

def test_weights_defaults_and_overrides():
    assert validate_weights(None) == DEFAULT_WEIGHTS
    assert validate_weights({'tcp': 3, 'http': None})['tcp'] == 3.0


@pytest.mark.parametrize('weights,name', [
    ({'tcp': -1}, 'weights.tcp'), ({'role': float('inf')}, 'weights.role'),
    ({'bogus': 1}, 'weights.bogus'), ({'http': 'x'}, 'weights.http'),
])
def test_bad_weight_is_named(weights, name):
    with pytest.raises(FailoverParamError, match=name):
        validate_weights(weights)


@pytest.mark.parametrize('value', [-0.1, 1.1, float('nan'), True, '0.5'])
def test_bad_min_confidence(value):
    with pytest.raises(FailoverParamError, match='min_confidence'):
        validate_min_confidence(value)


def test_lsn_to_int():
    assert lsn_to_int('0/3000060') == 0x3000060
    assert lsn_to_int('16/B374D848') == (0x16 << 32) + 0xB374D848
    assert lsn_to_int(None) is None
    with pytest.raises(ValueError):
        lsn_to_int('nonsense')


def test_match_address():
    addresses = {'a': {('10.0.0.1', 5432), ('db-a', 5432)}, 'b': {('10.0.0.2', 5432)}}
    assert match_address('db-a', 5432, addresses) == 'a'
    assert match_address('10.0.0.2', '5432', addresses) == 'b'
    assert match_address('10.0.0.2', 5433, addresses) is None
    assert match_address(None, 5432, addresses) is None


@pytest.mark.parametrize('status,role,expected', [
    ('UP', 'any', UP), ('UP 1/3', 'any', UP), ('DOWN', 'any', DOWN), ('DOWN', 'primary', None),
    ('DRAIN', 'any', DEGRADED), ('NOLB', 'any', DEGRADED), ('MAINT', 'any', UNKNOWN),
    ('no check', 'any', UNKNOWN), (None, 'any', UNKNOWN),
])
def test_haproxy_verdict(status, role, expected):
    assert haproxy_verdict({'status': status, 'error': None}, role) == expected


def test_haproxy_verdict_unknown_on_error():
    assert haproxy_verdict({'status': 'UP', 'error': 'socket gone'}) == UNKNOWN


def test_role_verdict():
    assert role_verdict(unreachable(), None, 10) == DOWN
    assert role_verdict({'reachable': True, 'error': 'auth failed'}, None, 10) == UNKNOWN
    assert role_verdict(primary(), None, 10) == UP
    assert role_verdict(replica('a'), 5, 10) == UP
    assert role_verdict(replica('a'), 11, 10) == DEGRADED
    assert role_verdict(replica('a', link_ok=False), 0, 10) == DEGRADED


def test_member_verdicts_latency_and_http():
    raw = {'tcp': tcp(ms=5.0), 'http': {'status': 503, 'ms': 150.0, 'error': None}}
    assert member_verdicts(raw, CONFIG) == {'tcp': UP, 'http': DOWN, 'latency': DEGRADED}
    assert member_verdicts({'tcp': tcp(ok=False)}, CONFIG) == {'tcp': DOWN}


# ---------------------------------------------------------------------------
# Member state and votes

@pytest.mark.parametrize('verdicts,state', [
    ({'tcp': UP, 'role': UP}, HEALTHY),
    ({'tcp': UP, 'latency': DEGRADED}, DEGRADED),
    ({'tcp': UP, 'http': DOWN, 'role': UP}, DEGRADED),
    ({'tcp': DOWN, 'role': DOWN}, DOWN),
    ({'tcp': UP, 'http': DOWN}, UNKNOWN),
    ({'haproxy': UNKNOWN}, UNKNOWN),
    ({}, UNKNOWN),
])
def test_member_state(verdicts, state):
    assert member_state(verdicts, WEIGHTS)[0] == state


def test_member_agreement():
    assert member_state({'tcp': UP, 'role': UP}, WEIGHTS)[1] == 1.0
    # 3 up of 4 (haproxy unknown weighs 1)
    assert member_state({'tcp': UP, 'role': UP, 'haproxy': UNKNOWN}, WEIGHTS)[1] == 0.75


def test_tally():
    votes = [{'candidate': 'a', 'weight': 2}, {'candidate': 'a', 'weight': 1},
             {'candidate': 'b', 'weight': 1}]
    assert tally(votes) == {'winner': 'a', 'nobody_wins': False, 'share': 0.75,
                            'totals': {'a': 3.0, 'b': 1.0}}
    tie = tally([{'candidate': 'a', 'weight': 1}, {'candidate': 'b', 'weight': 1}])
    assert tie['winner'] is None and tie['share'] == 0.5 and not tie['nobody_wins']
    assert tally([]) == {'winner': None, 'nobody_wins': False, 'share': 0.0, 'totals': {}}


def test_tally_nobody_competes():
    lost = tally([{'candidate': None, 'weight': 2}, {'candidate': None, 'weight': 2},
                  {'candidate': 'a', 'weight': 1}])
    assert lost['winner'] is None and lost['nobody_wins'] and lost['share'] == 0.8
    tie = tally([{'candidate': None, 'weight': 1}, {'candidate': 'a', 'weight': 1}])
    assert tie['winner'] is None and not tie['nobody_wins']


# ---------------------------------------------------------------------------
# Whole assessments

def test_healthy_cluster():
    result = assess(cluster(pg1=primary(), pg2=replica('pg1', 4900), pg3=replica('pg1')),
                    CONFIG, WEIGHTS, 0.7, declared_primary='pg1', role_service=True)
    assert result['primary'] == 'pg1' and result['declared'] is True
    assert result['confidence'] == 1.0
    assert result['findings'] == []
    assert result['members']['pg2']['lag_bytes'] == 100
    assert result['reconciliation']['declared_primary_mismatch'] is False
    assert result['reconciliation']['missing_members'] == []


def test_split_brain():
    result = assess(cluster(pg1=primary(), pg2=primary(), pg3=replica('pg1')),
                    CONFIG, WEIGHTS, 0.5, role_service=True)
    assert 'split_brain' in result['findings']
    assert result['reconciliation']['primaries'] == ['pg1', 'pg2']
    # pg1 wins the vote (itself + pg3) but only with 2/3 of it
    assert result['primary_share'] == pytest.approx(4 / 6, abs=1e-3)
    assert result['primary'] == 'pg1'


def test_split_brain_reported_even_under_low_confidence():
    result = assess(cluster(pg1=primary(), pg2=primary()), CONFIG, WEIGHTS, 0.9,
                    role_service=True)
    assert result['findings'] == ['split_brain', 'low_confidence']
    assert result['primary'] is None and result['declared'] is False
    assert result['reconciliation']['missing_members'] is None


def test_declared_primary_mismatch_after_failover():
    result = assess(cluster(pg1=unreachable(), pg2=primary(), pg3=replica('pg2')),
                    CONFIG, WEIGHTS, 0.7, declared_primary='pg1', role_service=True)
    assert result['primary'] == 'pg2'
    assert result['members']['pg1']['state'] == DOWN
    assert result['findings'] == ['declared_primary_mismatch', 'member_missing',
                                  'member_unhealthy']
    assert result['reconciliation']['missing_members'] == [
        {'name': 'pg1', 'reason': 'member is down'}]


def test_no_primary_when_primary_down_and_replicas_lost_it():
    result = assess(cluster(pg1=unreachable(), pg2=replica('pg1', link_ok=False),
                            pg3=replica('pg1', link_ok=False)),
                    CONFIG, WEIGHTS, 0.7, role_service=True)
    # Every signal agrees: pg1 is down and both replicas have lost their primary.
    assert result['confidence'] == 1.0 and result['declared'] is True
    assert result['primary'] is None
    assert result['findings'] == ['no_primary', 'member_missing', 'member_unhealthy']


def test_no_votes_is_no_confidence():
    result = assess(cluster(pg1=unreachable(), pg2=unreachable()), CONFIG, WEIGHTS, 0.7,
                    role_service=True)
    assert result['confidence'] == 0.0 and result['findings'] == ['low_confidence']


def test_replica_following_someone_else_is_missing():
    result = assess(cluster(pg1=primary(), pg2=replica('pg1'), pg3=replica('10.9.9.9:5432')),
                    CONFIG, WEIGHTS, 0.5, role_service=True)
    assert {'name': 'pg3', 'reason': 'replicates from 10.9.9.9:5432, not from the primary pg1'} \
        in result['reconciliation']['missing_members']
    assert result['reconciliation']['unknown_primary_candidates'] == ['10.9.9.9:5432']


def test_replica_without_privilege_abstains():
    result = assess(cluster(pg1=primary(), pg2=replica(None, link_ok=None)), CONFIG, WEIGHTS,
                    0.7, role_service=True)
    assert result['primary_share'] == 1.0 and result['primary'] == 'pg1'


def test_lagging_replica_is_degraded():
    result = assess(cluster(pg1=primary(10_000), pg2=replica('pg1', 1_000)), CONFIG, WEIGHTS,
                    0.5, role_service=True)
    assert result['members']['pg2']['lag_bytes'] == 9_000
    assert result['members']['pg2']['state'] == DEGRADED


def test_sentinel_votes_decide():
    raw = cluster(r1=primary(), r2=replica('r1'))
    votes = [{'source': 's1', 'candidate': 'r1'}, {'source': 's2', 'candidate': None}]
    result = assess(raw, CONFIG, WEIGHTS, 0.5, sentinel_votes=votes, role_service=True)
    assert result['primary'] == 'r1'
    assert result['primary_share'] == pytest.approx(5 / 6, abs=1e-3)


def test_generic_service_does_not_evaluate_primary():
    raw = {'a': {'tcp': tcp()}, 'b': {'tcp': tcp(ok=False)}}
    result = assess(raw, CONFIG, WEIGHTS, 0.7)
    assert result['confidence'] == 1.0
    assert result['reconciliation']['no_primary'] is None
    assert result['findings'] == ['member_missing', 'member_unhealthy']


def test_haproxy_primary_backend_votes_and_member_not_in_backend():
    config = dict(CONFIG, haproxy_backend_role='primary')
    raw = cluster(pg1=primary(), pg2=replica('pg1'))
    raw['pg1']['haproxy'] = {'status': 'UP', 'error': None}
    raw['pg2']['haproxy'] = {'status': 'DOWN', 'error': None}
    result = assess(raw, config, WEIGHTS, 0.7, role_service=True)
    assert result['primary'] == 'pg1' and result['findings'] == []
    assert 'haproxy' not in result['members']['pg2']['signals']
    raw['pg2']['haproxy'] = {'status': None, 'error': None}
    result = assess(raw, config, WEIGHTS, 0.5, role_service=True)
    assert result['reconciliation']['missing_members'] == [
        {'name': 'pg2', 'reason': 'not a server of the HAProxy backend'}]


def test_haproxy_routing_writes_to_a_replica_lowers_confidence():
    config = dict(CONFIG, haproxy_backend_role='primary')
    raw = cluster(pg1=primary(), pg2=replica('pg1'))
    raw['pg1']['haproxy'] = {'status': 'DOWN', 'error': None}
    raw['pg2']['haproxy'] = {'status': 'UP', 'error': None}
    result = assess(raw, config, WEIGHTS, 0.7, role_service=True)
    assert result['primary_share'] == pytest.approx(4 / 5)
    assert result['confidence'] < 1.0


# ---------------------------------------------------------------------------
# Properties

verdict = st.sampled_from([UP, DEGRADED, DOWN, UNKNOWN])
signal_weights = st.fixed_dictionaries(
    {name: st.floats(0.0, 10.0) for name in DEFAULT_WEIGHTS})
member_signals = st.dictionaries(st.sampled_from(MEMBER_SIGNALS), verdict)
members = st.dictionaries(st.sampled_from(['a', 'b', 'c', 'd', 'e']), member_signals,
                          min_size=1)
votes = st.lists(st.fixed_dictionaries({
    'candidate': st.one_of(st.none(), st.sampled_from(['a', 'b', 'c', 'x:1'])),
    'weight': st.floats(0.0, 10.0)}), max_size=8)


@PROPERTY_SETTINGS
@given(members, votes, signal_weights, st.booleans())
def test_property_confidence_in_unit_interval(verdicts, vote_list, weights, evaluate):
    result = score(verdicts, vote_list, weights, evaluate)
    assert 0.0 <= result['confidence'] <= 1.0
    assert 0.0 <= result['primary_share'] <= 1.0
    for member in result['members'].values():
        assert 0.0 <= member['agreement'] <= 1.0


@PROPERTY_SETTINGS
@given(members, votes, signal_weights, st.booleans(), st.data())
def test_property_agreeing_signal_never_lowers_confidence(verdicts, vote_list, weights,
                                                          evaluate, data):
    before = score(verdicts, vote_list, weights, evaluate)
    name = data.draw(st.sampled_from(sorted(verdicts)))
    state = before['members'][name]['state']
    free = [s for s in MEMBER_SIGNALS if s not in verdicts[name]]
    if not free:
        return
    signal = data.draw(st.sampled_from(free))
    if state == DOWN:
        agreeing = [DOWN]
    elif state in (HEALTHY, DEGRADED):
        agreeing = [UP, DEGRADED]
    else:  # a tie: a signal on either side agrees with one of the two readings
        agreeing = [UP, DEGRADED, DOWN]
    more = dict(verdicts, **{name: dict(verdicts[name], **{signal: data.draw(
        st.sampled_from(agreeing))})})
    after = score(more, vote_list, weights, evaluate)
    assert after['confidence'] >= before['confidence'] - 1e-12
    if state != UNKNOWN:
        same_side = {HEALTHY: (HEALTHY, DEGRADED), DEGRADED: (HEALTHY, DEGRADED), DOWN: (DOWN,)}
        assert after['members'][name]['state'] in same_side[state]


@PROPERTY_SETTINGS
@given(members, votes, signal_weights, st.floats(0.0, 10.0))
def test_property_vote_for_winner_never_lowers_confidence(verdicts, vote_list, weights, w):
    before = score(verdicts, vote_list, weights, True)
    if before['winner'] is None and not before['nobody_wins']:
        return  # a tie or no vote: no winner to agree with
    after = score(verdicts, vote_list + [{'candidate': before['winner'], 'weight': w}],
                  weights, True)
    assert (after['winner'], after['nobody_wins']) == (before['winner'], before['nobody_wins'])
    assert after['confidence'] >= before['confidence'] - 1e-12


@PROPERTY_SETTINGS
@given(members, signal_weights)
def test_property_dissent_never_raises_agreement_without_flipping(verdicts, weights):
    side = {HEALTHY: 'up', DEGRADED: 'up', DOWN: 'down', UNKNOWN: 'tie'}
    for signals in verdicts.values():
        state, agreement = member_state(signals, weights)
        if state == UNKNOWN:
            continue
        for signal in MEMBER_SIGNALS:
            if signal in signals:
                continue
            for dissent in ((UP, UNKNOWN) if state == DOWN else (DOWN, UNKNOWN)):
                after_state, after = member_state(dict(signals, **{signal: dissent}), weights)
                if side[after_state] == side[state]:
                    assert after <= agreement + 1e-12


@PROPERTY_SETTINGS
@given(members, votes, signal_weights)
def test_property_order_does_not_matter(verdicts, vote_list, weights):
    forward = score(verdicts, vote_list, weights, True)
    backward = score(dict(reversed(list(verdicts.items()))), list(reversed(vote_list)),
                     weights, True)
    assert forward['winner'] == backward['winner']
    assert forward['confidence'] == pytest.approx(backward['confidence'])


@PROPERTY_SETTINGS
@given(st.dictionaries(st.sampled_from(['a', 'b', 'c']), st.sampled_from(
    ['primary', 'replica', 'down']), min_size=1), st.floats(0.0, 1.0))
def test_property_assess_is_consistent(roles, min_confidence):
    raw = {}
    for name, kind in roles.items():
        if kind == 'primary':
            raw[name] = {'tcp': tcp(), 'role': primary()}
        elif kind == 'replica':
            raw[name] = {'tcp': tcp(), 'role': replica('a')}
        else:
            raw[name] = {'tcp': tcp(ok=False), 'role': unreachable()}
    result = assess(raw, CONFIG, WEIGHTS, min_confidence, role_service=True)
    assert 0.0 <= result['confidence'] <= 1.0
    assert result['declared'] == (result['confidence'] >= min_confidence)
    primaries = [n for n, k in roles.items() if k == 'primary']
    assert ('split_brain' in result['findings']) == (len(primaries) > 1)
    if result['primary'] is not None:
        assert result['declared'] and result['primary'] in primaries
    if not result['declared']:
        assert set(result['findings']) <= {'split_brain', 'low_confidence'}


def test_the_threshold_applies_to_the_reported_confidence():
    """Three members that each claim the primary role: confidence 1/3, reported as 0.3333. A
    min_confidence of exactly 1/3 is above what is reported, so nothing is declared (the
    property test above found the result saying 0.3333 >= 0.33333... and declared)."""
    raw = {name: {'tcp': tcp(), 'role': primary()} for name in ('a', 'b', 'c')}
    result = assess(raw, CONFIG, WEIGHTS, 1 / 3, role_service=True)
    assert result['confidence'] == 0.3333
    assert result['declared'] is False
    assert assess(raw, CONFIG, WEIGHTS, 0.3333, role_service=True)['declared'] is True
