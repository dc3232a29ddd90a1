# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure weight-tuning math for the ``haproxy_weights`` module.

Nothing here talks to the network, sleeps or draws random numbers: every
function maps its arguments to a result, so tests can call it directly.

The algorithm, per backend, for one run:

1. Servers are sorted by what HAProxy says about them:

   * ``MAINT`` / ``DRAIN`` (set by an operator), ``NOLB`` and backup servers
     are left alone;
   * a server whose status is ``DOWN`` (its checks fail; HAProxy's own
     rise/fall counters already debounce single failed checks) gets weight 0
     at once: no smoothing, no step limit, no dead band;
   * every other server (``UP``, ``UP 1/3``, ``no check``) is tuned.

2. Effective latency of a tuned server::

       latency = max(metric_ms, min_latency_ms) * (1 + error_penalty * error_ratio)

   ``metric_ms`` is the HAProxy average chosen by the module (``rtime``,
   ``ttime`` or ``ctime``, optionally plus ``qtime``); ``error_ratio`` is
   ``(econ + eresp) / stot`` in ``[0, 1]``. Errors make a server look slower.

3. Target weight, inversely proportional to the effective latency; the
   fastest server of the backend gets ``max_weight``::

       target = clamp(round(max_weight * fastest_latency / latency),
                      min_weight, max_weight)

   A tuned server without latency data (no session served yet) gets the
   median target of the servers that have data; when no server of the
   backend has data, every server keeps its weight.

4. Step from the current weight ``w`` toward the target ``T``:

   * dead band: when ``|T - w| <= dead_band`` nothing moves;
   * exponential smoothing: the move is ``round(smoothing * (T - w))``
     (``smoothing`` in (0, 1]; 1 jumps straight to the target), at least 1
     so a server outside the dead band always makes progress;
   * the move is capped at ``max_step`` in either direction;
   * the result is clamped to ``[min_weight, max_weight]`` (bounds win over
     the step limit, e.g. a server coming back from 0 gets at least
     ``min_weight``).

Because the target depends only on the observed latencies (never on the
current weights) and every move goes toward it without passing it, repeated
runs over the same statistics reach a fixed point in a bounded number of runs
and never oscillate. All rounding is "half up" (``floor(x + 0.5)``), so
results do not depend on Python's banker's rounding.
"""

import math

WEIGHT_MIN = 0
WEIGHT_MAX = 256

DEFAULTS = {
    'min_weight': 1,
    'max_weight': 100,
    'max_step': 10,
    'dead_band': 5,
    'smoothing': 0.5,
    'error_penalty': 10.0,
    'min_latency_ms': 5.0,
}

# Actions, one per server, in the decision list.
TUNE = 'tune'
FAILING = 'failing'
SKIP = 'skip'


class WeightParamError(ValueError):
    """A tuning parameter is invalid; the message names the parameter."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def validate_params(**overrides):
    """Return a complete, validated parameter dict.

    Unknown keys and invalid values raise ``WeightParamError`` with a
    message naming the parameter and what was expected.
    """
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise WeightParamError('unknown weight parameter(s): %s' % ', '.join(unknown))
    params = dict(DEFAULTS)
    params.update({k: v for k, v in overrides.items() if v is not None})

    for name in ('min_weight', 'max_weight', 'max_step', 'dead_band'):
        value = params[name]
        if not _is_int(value) or not WEIGHT_MIN <= value <= WEIGHT_MAX:
            raise WeightParamError('%s must be an integer between %d and %d, got %r'
                                   % (name, WEIGHT_MIN, WEIGHT_MAX, value))
    if params['max_step'] < 1:
        raise WeightParamError('max_step must be at least 1, got %r' % params['max_step'])
    if params['max_weight'] < 1:
        raise WeightParamError('max_weight must be at least 1, got %r' % params['max_weight'])
    if params['min_weight'] > params['max_weight']:
        raise WeightParamError('min_weight (%d) must not be greater than max_weight (%d)'
                               % (params['min_weight'], params['max_weight']))
    smoothing = params['smoothing']
    if not _is_number(smoothing) or not 0 < smoothing <= 1:
        raise WeightParamError('smoothing must be a number in (0, 1], got %r' % (smoothing,))
    if not _is_number(params['error_penalty']) or params['error_penalty'] < 0:
        raise WeightParamError('error_penalty must be a number >= 0, got %r'
                               % (params['error_penalty'],))
    if not _is_number(params['min_latency_ms']) or params['min_latency_ms'] <= 0:
        raise WeightParamError('min_latency_ms must be a number > 0, got %r'
                               % (params['min_latency_ms'],))
    params['smoothing'] = float(smoothing)
    params['error_penalty'] = float(params['error_penalty'])
    params['min_latency_ms'] = float(params['min_latency_ms'])
    return params


def round_half_up(value):
    """Round to the nearest integer, halves away from zero for positives."""
    return int(math.floor(value + 0.5))


def clamp(value, low, high):
    return max(low, min(high, value))


def classify_status(status, backup=False, include_backup=False, check_status=''):
    """Map an HAProxy server status to (action, reason).

    ``status`` is the ``status`` column of ``show stat`` ("UP", "UP 1/3",
    "DOWN", "DOWN 1/2", "NOLB", "MAINT", "MAINT (via be/s)", "DRAIN",
    "no check", ...).
    """
    text = (status or '').strip()
    upper = text.upper()
    if backup and not include_backup:
        return SKIP, 'backup server; not tuned (include_backup is false)'
    if upper.startswith('MAINT'):
        return SKIP, 'in maintenance (%s); left alone' % text
    if upper.startswith('DRAIN'):
        return SKIP, 'draining (set by an operator); left alone'
    if upper.startswith('NOLB'):
        return SKIP, 'NOLB (server asked for no new traffic); left alone'
    if upper.startswith('DOWN'):
        detail = '%s, last check %s' % (text, check_status) if check_status else text
        return FAILING, 'failing checks (%s)' % detail
    if upper.startswith('UP') or upper == 'NO CHECK':
        return TUNE, None
    return SKIP, 'unrecognised status %r; left alone' % text


def effective_latency(latency_ms, error_ratio, params):
    """Latency in ms, floored at ``min_latency_ms`` and inflated by errors.

    Returns None when ``latency_ms`` is None (no data).
    """
    if latency_ms is None:
        return None
    ratio = clamp(float(error_ratio or 0.0), 0.0, 1.0)
    base = max(float(latency_ms), params['min_latency_ms'])
    return base * (1.0 + params['error_penalty'] * ratio)


def _median_int(values):
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return round_half_up((ordered[mid - 1] + ordered[mid]) / 2.0)


def target_weights(latencies, params):
    """Target weight per server from effective latencies.

    ``latencies`` maps a server name to its effective latency in ms (> 0) or
    None (no data). Returns a dict name -> int target, or None for a server
    whose target is unknown (no server of the backend has data).
    """
    known = {name: lat for name, lat in latencies.items() if lat is not None}
    if not known:
        return {name: None for name in latencies}
    fastest = min(known.values())
    targets = {}
    for name, lat in known.items():
        raw = params['max_weight'] * fastest / lat
        targets[name] = clamp(round_half_up(raw), params['min_weight'], params['max_weight'])
    fallback = _median_int(targets.values())
    for name, lat in latencies.items():
        if lat is None:
            targets[name] = fallback
    return targets


def step_weight(current, target, params):
    """One smoothed, dead-banded, step-limited move from current toward target.

    Returns (new_weight, reason).
    """
    low, high = params['min_weight'], params['max_weight']
    delta = target - current
    if abs(delta) <= params['dead_band']:
        new = current
        reason = 'within dead band (target %d, current %d, dead band %d)' % (
            target, current, params['dead_band'])
    else:
        move = max(1, round_half_up(params['smoothing'] * abs(delta)))
        move = min(move, params['max_step'])
        new = current + (move if delta > 0 else -move)
        reason = 'moving toward target %d (smoothing %g, max step %d)' % (
            target, params['smoothing'], params['max_step'])
    bounded = clamp(new, low, high)
    if bounded != new:
        reason = 'clamped to [%d, %d] (target %d)' % (low, high, target)
    return bounded, reason


def compute_backend(servers, params, include_backup=False):
    """Decide new weights for the servers of one backend.

    ``servers`` is a list of dicts with keys ``name``, ``weight`` (current
    weight, int), ``status`` (HAProxy status text), ``latency_ms`` (float or
    None), ``error_ratio`` (float in [0, 1]) and optionally ``backup`` (bool).
    ``params`` comes from ``validate_params``.

    Returns a list of decision dicts, in input order, each with ``name``,
    ``old_weight``, ``new_weight``, ``target`` (int or None), ``latency_ms``
    (effective latency or None), ``action`` (tune / failing / skip),
    ``changed`` and ``reason``.
    """
    decisions = []
    tuned = {}
    for server in servers:
        action, reason = classify_status(server.get('status'), server.get('backup', False),
                                         include_backup, server.get('check_status'))
        decision = {
            'name': server['name'],
            'old_weight': int(server['weight']),
            'new_weight': int(server['weight']),
            'target': None,
            'latency_ms': None,
            'action': action,
            'reason': reason,
        }
        if action == FAILING:
            decision['target'] = 0
            decision['new_weight'] = 0
        elif action == TUNE:
            decision['latency_ms'] = effective_latency(server.get('latency_ms'),
                                                       server.get('error_ratio'), params)
            tuned[server['name']] = decision['latency_ms']
        decisions.append(decision)

    targets = target_weights(tuned, params)
    for decision in decisions:
        if decision['action'] != TUNE:
            continue
        target = targets[decision['name']]
        decision['target'] = target
        if target is None:
            decision['reason'] = 'no latency data in this backend; weight kept'
            continue
        new, reason = step_weight(decision['old_weight'], target, params)
        if decision['latency_ms'] is None:
            reason = 'no latency data; backend median target, ' + reason
        decision['new_weight'] = new
        decision['reason'] = reason
    for decision in decisions:
        decision['changed'] = decision['new_weight'] != decision['old_weight']
        if decision['action'] == FAILING and not decision['changed']:
            decision['reason'] += '; already at 0'
    return decisions


LATENCY_METRICS = ('auto', 'rtime', 'ttime', 'ctime')


def server_from_stats(row, latency_metric='auto', include_queue_time=True):
    """Turn one parsed ``show stat`` server row into a ``compute_backend`` input.

    ``latency_metric`` ``auto`` uses ``rtime`` (average response time) for
    HTTP-mode servers and ``ttime`` (average session time) otherwise, since
    HAProxy only measures ``rtime`` in HTTP mode. ``qtime`` (time spent in
    the queue) is added when ``include_queue_time`` is true. A server that has
    not served a session yet (``stot`` 0) or has no value for the metric has
    no latency data (None). ``error_ratio`` is ``(econ + eresp) / stot``;
    HAProxy's counters run since its start or the last ``clear counters``.
    """
    metric = latency_metric
    if metric == 'auto':
        metric = 'rtime' if (row.get('mode') or '').lower() == 'http' else 'ttime'
    sessions = row.get('stot') or 0
    value = row.get(metric)
    latency = None
    if sessions > 0 and value is not None:
        latency = float(value)
        if include_queue_time:
            latency += float(row.get('qtime') or 0)
    errors = (row.get('econ') or 0) + (row.get('eresp') or 0)
    ratio = clamp(errors / float(sessions), 0.0, 1.0) if sessions > 0 else 0.0
    weight = row.get('uweight')
    if weight is None:
        weight = row.get('weight') or 0
    return {
        'name': row['svname'],
        'weight': weight,
        'status': row.get('status') or '',
        'check_status': row.get('check_status') or '',
        'latency_ms': latency,
        'error_ratio': ratio,
        'backup': bool(row.get('bck')),
    }
