# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure scoring and reconciliation for the ``failover_check`` module.

The module gathers raw observations (network probes, HAProxy, PostgreSQL,
Redis, Sentinel); everything that turns them into a verdict lives here and
never touches the network, sleeps or draws random numbers.

The model (signals, member states, the vote for the primary, the confidence
and the findings) is written once, in the module's DOCUMENTATION
(``ansible-doc groundwork.platform.failover_check``); the functions below
implement it, and tests/unit/plugins/module_utils/test_failover.py holds them
to it (including its properties: the confidence lies in [0, 1], evidence that
agrees never lowers it).
"""

import math

UP = 'up'
DEGRADED = 'degraded'
DOWN = 'down'
UNKNOWN = 'unknown'
VERDICTS = (UP, DEGRADED, DOWN, UNKNOWN)

HEALTHY = 'healthy'
STATES = (HEALTHY, DEGRADED, DOWN, UNKNOWN)

PRIMARY = 'primary'
REPLICA = 'replica'

MEMBER_SIGNALS = ('tcp', 'http', 'latency', 'haproxy', 'role')
DEFAULT_WEIGHTS = {
    'tcp': 1.0,
    'http': 1.0,
    'latency': 0.5,
    'haproxy': 1.0,
    'role': 2.0,
    'sentinel': 1.0,
}

FINDINGS = ('split_brain', 'low_confidence', 'no_primary', 'declared_primary_mismatch',
            'member_missing', 'member_unhealthy')


class FailoverParamError(ValueError):
    """A parameter is invalid; the message names the parameter."""


def validate_weights(weights):
    """Complete signal weight dict from partial overrides; each weight finite and >= 0."""
    result = dict(DEFAULT_WEIGHTS)
    for name, value in (weights or {}).items():
        if name not in DEFAULT_WEIGHTS:
            raise FailoverParamError('weights.%s is not a known signal (known: %s)'
                                     % (name, ', '.join(sorted(DEFAULT_WEIGHTS))))
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise FailoverParamError('weights.%s must be a number >= 0, got %r' % (name, value))
        result[name] = float(value)
    return result


def validate_min_confidence(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not 0 <= value <= 1:
        raise FailoverParamError('min_confidence must be a number between 0 and 1, got %r'
                                 % (value,))
    return float(value)


# ---------------------------------------------------------------------------
# Raw observations -> verdicts

def lsn_to_int(lsn):
    """PostgreSQL LSN text ``'16/B374D848'`` -> int; None stays None."""
    if lsn is None:
        return None
    high, _sep, low = str(lsn).partition('/')
    if not _sep:
        raise ValueError('not an LSN: %r' % (lsn,))
    return (int(high, 16) << 32) + int(low, 16)


def match_address(host, port, addresses):
    """Member name listening at (host, port), or None.

    ``addresses`` maps a member name to a collection of ``(host, port)``
    pairs it is known by (its inventory host and resolved addresses).
    """
    if host is None or port is None:
        return None
    wanted = (str(host), int(port))
    for name in sorted(addresses):
        if wanted in {(str(h), int(p)) for h, p in addresses[name]}:
            return name
    return None


def haproxy_verdict(observation, backend_role='any'):
    """Verdict of an HAProxy observation ``{'status': str|None, 'error': str|None}``.

    Returns None when the signal is not counted (a DOWN server in a
    primary-only backend).
    """
    if observation.get('error') or observation.get('status') is None:
        return UNKNOWN
    status = observation['status'].strip().upper()
    if status.startswith('UP'):
        return UP
    if status.startswith('DOWN'):
        return None if backend_role == PRIMARY else DOWN
    if status.startswith('DRAIN') or status.startswith('NOLB'):
        return DEGRADED
    return UNKNOWN


def role_verdict(observation, lag_bytes, max_lag_bytes):
    """Verdict of a role observation (see module docstring)."""
    if not observation.get('reachable', True):
        return DOWN
    if observation.get('error') or observation.get('role') not in (PRIMARY, REPLICA):
        return UNKNOWN
    if observation['role'] == PRIMARY:
        return UP
    if observation.get('link_ok') is False:
        return DEGRADED
    if lag_bytes is not None and max_lag_bytes is not None and lag_bytes > max_lag_bytes:
        return DEGRADED
    return UP


def member_verdicts(raw, config, lag_bytes=None):
    """Signal verdicts of one member from its raw observations.

    ``raw`` may hold ``tcp`` ({ok, ms, error}), ``http`` ({status, ms, error}),
    ``haproxy`` ({status, error}) and ``role`` ({reachable, error, role,
    upstream, link_ok, position}); missing keys are signals not configured.
    ``config`` holds ``latency_threshold_ms``, ``expected_http_status``,
    ``max_lag_bytes`` and ``haproxy_backend_role``.
    """
    verdicts = {}
    measured = []
    tcp = raw.get('tcp')
    if tcp is not None:
        verdicts['tcp'] = UP if tcp.get('ok') else DOWN
        if tcp.get('ok') and tcp.get('ms') is not None:
            measured.append(tcp['ms'])
    http = raw.get('http')
    if http is not None:
        ok = http.get('status') in config.get('expected_http_status', (200,))
        verdicts['http'] = UP if ok else DOWN
        if http.get('status') is not None and http.get('ms') is not None:
            measured.append(http['ms'])
    if measured:
        threshold = config.get('latency_threshold_ms')
        slow = threshold is not None and max(measured) > threshold
        verdicts['latency'] = DEGRADED if slow else UP
    if raw.get('haproxy') is not None:
        verdict = haproxy_verdict(raw['haproxy'], config.get('haproxy_backend_role', 'any'))
        if verdict is not None:
            verdicts['haproxy'] = verdict
    if raw.get('role') is not None:
        verdicts['role'] = role_verdict(raw['role'], lag_bytes, config.get('max_lag_bytes'))
    return verdicts


# ---------------------------------------------------------------------------
# Scoring

def member_state(verdicts, weights):
    """(state, agreement) of one member from its signal verdicts."""
    up_w = down_w = unknown_w = 0.0
    for signal, verdict in verdicts.items():
        weight = weights.get(signal, 0.0)
        if verdict in (UP, DEGRADED):
            up_w += weight
        elif verdict == DOWN:
            down_w += weight
        else:
            unknown_w += weight
    total = up_w + down_w + unknown_w
    agreement = max(up_w, down_w) / total if total > 0 else 0.0
    if up_w == down_w:
        return UNKNOWN, agreement
    if down_w > up_w:
        return DOWN, agreement
    if any(v in (DOWN, DEGRADED) for v in verdicts.values()):
        return DEGRADED, agreement
    return HEALTHY, agreement


def tally(votes):
    """Count the votes for the primary.

    ``votes`` is a list of dicts with ``candidate`` (a name, or None for
    "nobody known") and ``weight``. "Nobody known" competes like any
    candidate: when replicas have lost their primary, the confident answer is
    that there is none. Returns a dict with ``winner`` (the candidate with the
    most weight; None when "nobody" wins, on a tie, or without votes),
    ``nobody_wins``, ``share`` (the best weight over the total, 0 without
    votes or weight) and ``totals`` (weight per named candidate).
    """
    totals = {}
    nobody = 0.0
    for vote in votes:
        weight = float(vote['weight'])
        if vote['candidate'] is None:
            nobody += weight
        else:
            totals[vote['candidate']] = totals.get(vote['candidate'], 0.0) + weight
    total = nobody + sum(totals.values())
    result = {'winner': None, 'nobody_wins': False, 'share': 0.0, 'totals': totals}
    if total <= 0:
        return result
    best = max([nobody] + list(totals.values()))
    leaders = sorted(name for name, weight in totals.items() if weight == best)
    if nobody == best:
        leaders.append(None)
    result['share'] = best / total
    if len(leaders) == 1:
        result['winner'] = leaders[0]
        result['nobody_wins'] = leaders[0] is None
    return result


def score(verdicts_by_member, votes, weights, evaluate_primary):
    """Member states, primary vote and overall confidence.

    Returns a dict with ``members`` (name -> {state, agreement}),
    ``member_confidence``, ``winner``, ``nobody_wins``, ``primary_share``,
    ``vote_totals`` and ``confidence``.
    """
    members = {}
    for name, verdicts in verdicts_by_member.items():
        state, agreement = member_state(verdicts, weights)
        members[name] = {'state': state, 'agreement': agreement}
    member_conf = (sum(m['agreement'] for m in members.values()) / len(members)
                   if members else 0.0)
    vote = tally(votes)
    confidence = member_conf * vote['share'] if evaluate_primary else member_conf
    return {
        'members': members,
        'member_confidence': member_conf,
        'winner': vote['winner'],
        'nobody_wins': vote['nobody_wins'],
        'primary_share': vote['share'],
        'vote_totals': vote['totals'],
        'confidence': min(1.0, max(0.0, confidence)),
    }


def primary_votes(raw_by_member, weights, sentinel_votes=(), haproxy_backend_role='any'):
    """Votes for the primary from role signals, Sentinels and a primary-only HAProxy backend.

    ``sentinel_votes`` is a list of ``{'source': str, 'candidate': name or None}``.
    """
    votes = []
    for name in sorted(raw_by_member):
        role = raw_by_member[name].get('role')
        if role and role.get('reachable', True) and not role.get('error'):
            if role.get('role') == PRIMARY:
                votes.append({'source': '%s (says primary)' % name, 'candidate': name,
                              'weight': weights['role']})
            elif role.get('role') == REPLICA and (role.get('upstream') is not None
                                                  or role.get('link_ok') is False):
                # A replica with a broken link votes for "nobody known"; one that
                # cannot tell where it replicates from (no privilege) abstains.
                upstream = role.get('upstream') if role.get('link_ok') is not False else None
                votes.append({'source': '%s (replicates from)' % name,
                              'candidate': upstream, 'weight': weights['role']})
    for vote in sentinel_votes:
        votes.append({'source': vote['source'], 'candidate': vote.get('candidate'),
                      'weight': weights['sentinel']})
    if haproxy_backend_role == PRIMARY:
        seen = [name for name in sorted(raw_by_member)
                if raw_by_member[name].get('haproxy') is not None]
        up = [name for name in seen
              if haproxy_verdict(raw_by_member[name]['haproxy'], PRIMARY) == UP]
        for name in up:
            votes.append({'source': 'haproxy (routes to)', 'candidate': name,
                          'weight': weights['haproxy']})
        if seen and not up:
            votes.append({'source': 'haproxy (routes to)', 'candidate': None,
                          'weight': weights['haproxy']})
    return votes


# ---------------------------------------------------------------------------
# The whole assessment

def assess(raw_by_member, config, weights, min_confidence, declared_primary=None,
           sentinel_votes=(), role_service=False):
    """Turn raw observations into the check's verdict.

    ``raw_by_member`` maps member name -> raw observations (see
    ``member_verdicts``). ``role_service`` is true when members carry a role
    signal (PostgreSQL, Redis). Returns a JSON-serialisable dict.
    """
    backend_role = config.get('haproxy_backend_role', 'any')
    votes = primary_votes(raw_by_member, weights, sentinel_votes, backend_role)
    evaluate_primary = bool(role_service or votes)
    winner = tally(votes)['winner']

    primaries = sorted(name for name, raw in raw_by_member.items()
                       if (raw.get('role') or {}).get('role') == PRIMARY
                       and (raw.get('role') or {}).get('reachable', True)
                       and not (raw.get('role') or {}).get('error'))
    primary_position = None
    if winner in primaries:
        primary_position = raw_by_member[winner]['role'].get('position')

    verdicts_by_member = {}
    lags = {}
    for name, raw in raw_by_member.items():
        role = raw.get('role') or {}
        lag = None
        if role.get('role') == REPLICA and primary_position is not None \
                and role.get('position') is not None:
            lag = max(0, primary_position - role['position'])
        lags[name] = lag
        verdicts_by_member[name] = member_verdicts(raw, config, lag)

    scored = score(verdicts_by_member, votes, weights, evaluate_primary)
    # The threshold applies to the confidence as reported (4 decimals), so that the result
    # never says e.g. confidence 0.3333 >= min_confidence 0.33333 and declared.
    confidence = round(scored['confidence'], 4)
    declared = confidence >= min_confidence
    observed = winner if winner in primaries else None

    members = {}
    for name in sorted(raw_by_member):
        role = raw_by_member[name].get('role') or {}
        members[name] = {
            'state': scored['members'][name]['state'],
            'agreement': round(scored['members'][name]['agreement'], 4),
            'signals': verdicts_by_member[name],
            'role': role.get('role'),
            'upstream': role.get('upstream'),
            'lag_bytes': lags[name],
        }

    split_brain = len(primaries) > 1
    findings = []
    if split_brain:
        findings.append('split_brain')
    reconciliation = {
        'declared_primary': declared_primary,
        'observed_primary': observed if declared else None,
        'primaries': primaries,
        'split_brain': split_brain,
        'no_primary': None,
        'declared_primary_mismatch': None,
        'missing_members': None,
        'unhealthy_members': None,
        'unknown_primary_candidates': sorted(
            c for c in scored['vote_totals'] if c not in raw_by_member),
    }
    if not declared:
        findings.append('low_confidence')
    else:
        if evaluate_primary:
            reconciliation['no_primary'] = observed is None
            if observed is None:
                findings.append('no_primary')
        if declared_primary is not None and observed is not None:
            mismatch = declared_primary != observed
            reconciliation['declared_primary_mismatch'] = mismatch
            if mismatch:
                findings.append('declared_primary_mismatch')
        missing = _missing_members(raw_by_member, members, observed)
        reconciliation['missing_members'] = missing
        if missing:
            findings.append('member_missing')
        unhealthy = sorted(n for n, m in members.items() if m['state'] != HEALTHY)
        reconciliation['unhealthy_members'] = unhealthy
        if unhealthy:
            findings.append('member_unhealthy')

    return {
        'confidence': confidence,
        'min_confidence': min_confidence,
        'declared': declared,
        'primary': observed if declared else None,
        'members': members,
        'votes': votes,
        'primary_share': round(scored['primary_share'], 4),
        'member_confidence': round(scored['member_confidence'], 4),
        'findings': [f for f in FINDINGS if f in findings],
        'reconciliation': reconciliation,
    }


def _missing_members(raw_by_member, members, observed):
    """Declared members that are not part of the service as observed."""
    missing = []
    for name in sorted(members):
        raw = raw_by_member[name]
        member = members[name]
        if member['state'] in (DOWN, UNKNOWN):
            missing.append({'name': name, 'reason': 'member is %s' % member['state']})
            continue
        haproxy = raw.get('haproxy')
        if haproxy is not None and not haproxy.get('error') and haproxy.get('status') is None:
            missing.append({'name': name, 'reason': 'not a server of the HAProxy backend'})
            continue
        role = raw.get('role') or {}
        if role.get('role') == REPLICA and observed is not None:
            if role.get('link_ok') is False:
                missing.append({'name': name, 'reason': 'replication link is down'})
            elif role.get('upstream') is not None and role['upstream'] != observed:
                missing.append({'name': name, 'reason': 'replicates from %s, not from the '
                                'primary %s' % (role['upstream'], observed)})
    return missing
