#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: haproxy_weights
short_description: Tune HAProxy server weights from observed response times
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Reads per-server statistics from the HAProxy runtime API (C(show stat)), computes new
    weights and applies them at runtime with C(set server BACKEND/SERVER weight N).
  - Optionally persists the weights in a JSON file (O(weights_file)) that a configuration
    template can read, and dumps C(show servers state) into O(server_state_file) for
    C(load-server-state-from-file), so a reload keeps the tuned weights.
  - "The algorithm, per backend and per run:"
  - "1. Servers that are C(MAINT), C(DRAIN), C(NOLB) or backup servers (unless
    O(include_backup)) are left alone. A server whose status is C(DOWN) (failing its health
    checks; HAProxy's rise/fall already debounces single failures) gets weight 0 at once,
    without smoothing, step limit or dead band. All other servers (C(UP), C(UP 1/3),
    C(no check)) are tuned."
  - "2. Effective latency = max(latency, O(min_latency_ms)) * (1 + O(error_penalty) *
    error_ratio), where latency is the HAProxy average chosen by O(latency_metric) (plus
    C(qtime) when O(include_queue_time)) and error_ratio = (econ + eresp) / stot. HAProxy's
    counters run since its start or the last C(clear counters)."
  - "3. Target = clamp(round(O(max_weight) * fastest_latency / latency), O(min_weight),
    O(max_weight)): weights are inversely proportional to the effective latency and the
    fastest server of the backend gets O(max_weight). A server that has not served a
    session yet gets the median target of the others; when no server of a backend has data,
    the backend is left as it is."
  - "4. From the current weight W toward the target T: nothing moves when |T - W| <=
    O(dead_band); otherwise the move is round(O(smoothing) * (T - W)) (exponential
    smoothing against the previous weight), at least 1 and at most O(max_step), and the
    result is clamped to [O(min_weight), O(max_weight)]."
  - Targets depend only on the statistics, never on current weights, and every move goes
    toward the target without passing it, so repeated runs over stable statistics settle on
    a fixed point instead of oscillating.
  - The math lives in C(plugins/module_utils/_weights.py) as pure functions.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Computes and reports every decision without sending commands or writing files.
  diff_mode:
    support: full
    details: Shows the weights before and after, and the weights file before and after.
  platform:
    platforms: posix
requirements:
  - HAProxy with a runtime API socket at admin level (C(stats socket PATH level admin)).
options:
  socket:
    description:
      - Runtime API address; a unix socket path, or C(HOST:PORT) for a socket bound to a TCP
        address (C(stats socket ipv4@127.0.0.1:9999 level admin)).
    type: str
    default: /run/haproxy/admin.sock
  timeout:
    description: Seconds to wait for the runtime API on each command.
    type: float
    default: 5.0
  backends:
    description: Names of the backends whose servers are tuned. Every name must exist.
    type: list
    elements: str
    required: true
  latency_metric:
    description:
      - HAProxy average used as the latency (over the last 1024 requests).
      - V(rtime) is the response time (HTTP mode only), V(ttime) the total session time,
        V(ctime) the connect time.
      - V(auto) uses V(rtime) for HTTP-mode servers and V(ttime) otherwise.
    type: str
    choices: [auto, rtime, ttime, ctime]
    default: auto
  include_queue_time:
    description: Add the average queue time (C(qtime)) to the latency.
    type: bool
    default: true
  min_weight:
    description: Lowest weight given to a healthy server (integer 0-256).
    type: int
    default: 1
  max_weight:
    description: Weight of the fastest server, and the highest weight given (integer 1-256).
    type: int
    default: 100
  max_step:
    description: Largest change of one server's weight in one run (integer 1-256).
    type: int
    default: 10
  dead_band:
    description:
      - No change when the target differs from the current weight by this much or less
        (integer 0-256). Avoids churn on small latency differences.
    type: int
    default: 5
  smoothing:
    description:
      - Exponential smoothing factor in (0, 1]; the fraction of the distance to the target
        covered in one run. V(1) jumps to the target (still limited by O(max_step)).
    type: float
    default: 0.5
  error_penalty:
    description:
      - How much errors slow a server down in the eyes of the algorithm (>= 0); with V(10),
        1% of failed sessions adds 10% to the latency.
    type: float
    default: 10.0
  min_latency_ms:
    description:
      - Floor for the latency in milliseconds (> 0). Latencies below it count as equal, so
        idle servers do not divide by 0 and jitter at HAProxy's 1 ms resolution (1 ms
        against 3 ms) does not triple a weight.
    type: float
    default: 5.0
  include_backup:
    description: Tune backup servers too. By default they are left alone.
    type: bool
    default: false
  weights_file:
    description:
      - "Path of a JSON file C({\"backends\": {BACKEND: {SERVER: WEIGHT}}}) updated with the
        resulting weights of every server of the tuned backends (other backends in the file
        are kept). Written atomically, only when its content changes."
      - A configuration template can read it (for example with M(ansible.builtin.slurp) and
        the C(from_json) filter) so a reload starts from the tuned weights.
    type: path
  server_state_file:
    description:
      - Path where the output of C(show servers state) is written after weights were
        applied (or when the file does not exist), for HAProxy's C(server-state-file) /
        C(load-server-state-from-file).
    type: path
notes:
  - The module only changes weights. It never changes a server's administrative state.
seealso:
  - module: community.general.haproxy
    description: Enable, disable, drain or set one server's weight by hand.
  - name: HAProxy management guide, runtime API
    description: The C(show stat) columns and the C(set server) command.
    link: https://docs.haproxy.org/2.6/management.html
"""

EXAMPLES = r"""
- name: Show what the tuning would do (no change)
  groundwork.platform.haproxy_weights:
    backends: [be_app]
  check_mode: true
  register: weights_preview

- name: Tune the web backends and persist the weights for the next reload
  groundwork.platform.haproxy_weights:
    socket: /run/haproxy/admin.sock
    backends:
      - be_app
      - be_api
    max_weight: 100
    min_weight: 5
    max_step: 10
    dead_band: 5
    smoothing: 0.5
    weights_file: /var/lib/haproxy/weights.json
    server_state_file: /var/lib/haproxy/server-state
  register: weights

- name: Report the servers whose weight moved
  ansible.builtin.debug:
    msg: "{{ item.backend }}/{{ item.server }}: {{ item.old_weight }} -> {{ item.new_weight }} ({{ item.reason }})"
  loop: "{{ weights.servers | selectattr('changed') }}"
"""

RETURN = r"""
servers:
  description: One decision per server of the tuned backends.
  returned: always
  type: list
  elements: dict
  contains:
    backend:
      description: Backend name.
      type: str
      sample: be_app
    server:
      description: Server name.
      type: str
      sample: app1
    status:
      description: HAProxy's status of the server.
      type: str
      sample: UP
    old_weight:
      description: Weight before this run.
      type: int
      sample: 100
    new_weight:
      description: Weight after this run (applied unless in check mode).
      type: int
      sample: 90
    target:
      description: Weight the algorithm aims at; null when the server is not tuned.
      type: int
      sample: 50
    latency_ms:
      description: Effective latency (after floor and error penalty); null without data.
      type: float
      sample: 42.0
    error_ratio:
      description: (econ + eresp) / stot.
      type: float
      sample: 0.0
    action:
      description: C(tune), C(failing) (set to 0) or C(skip) (left alone).
      type: str
      sample: tune
    changed:
      description: Whether the weight moved.
      type: bool
      sample: true
    reason:
      description: Why the weight is what it is.
      type: str
      sample: moving toward target 50 (smoothing 0.5, max step 10)
weights:
  description: Resulting weight of every server, by backend.
  returned: always
  type: dict
  sample: {"be_app": {"app1": 90, "app2": 100}}
weights_file_changed:
  description: Whether O(weights_file) was (or, in check mode, would be) rewritten.
  returned: always
  type: bool
  sample: false
server_state_file_changed:
  description:
    - Whether O(server_state_file) was (or, in check mode, would be) written; it is written
      when a weight moved or when the file does not exist yet.
  returned: always
  type: bool
  sample: false
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.groundwork.platform.plugins.module_utils._haproxy_runtime import (
    HAProxyRuntime,
    HAProxyRuntimeError,
    backend_names,
    server_rows,
)
from ansible_collections.groundwork.platform.plugins.module_utils._weights import (
    DEFAULTS,
    LATENCY_METRICS,
    WeightParamError,
    compute_backend,
    server_from_stats,
    validate_params,
)

TUNING_OPTIONS = tuple(sorted(DEFAULTS))


def argument_spec():
    return dict(
        socket=dict(type='str', default='/run/haproxy/admin.sock'),
        timeout=dict(type='float', default=5.0),
        backends=dict(type='list', elements='str', required=True),
        latency_metric=dict(type='str', choices=list(LATENCY_METRICS), default='auto'),
        include_queue_time=dict(type='bool', default=True),
        min_weight=dict(type='int', default=DEFAULTS['min_weight']),
        max_weight=dict(type='int', default=DEFAULTS['max_weight']),
        max_step=dict(type='int', default=DEFAULTS['max_step']),
        dead_band=dict(type='int', default=DEFAULTS['dead_band']),
        smoothing=dict(type='float', default=DEFAULTS['smoothing']),
        error_penalty=dict(type='float', default=DEFAULTS['error_penalty']),
        min_latency_ms=dict(type='float', default=DEFAULTS['min_latency_ms']),
        include_backup=dict(type='bool', default=False),
        weights_file=dict(type='path'),
        server_state_file=dict(type='path'),
    )


def _weights_text(servers):
    return ''.join('%s/%s weight %d\n' % (s['backend'], s['server'], s['weight']) for s in servers)


def _read_weights_file(module, path):
    """(text, data) of the existing weights file; (None, {}) when absent; fail on garbage."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        module.fail_json(msg='weights_file: directory %s does not exist' % directory)
    if not os.path.exists(path):
        return None, {}
    try:
        with open(path) as handle:
            text = handle.read()
        data = json.loads(text) if text.strip() else {}
    except (OSError, ValueError) as exc:
        module.fail_json(msg='weights_file %s is not readable JSON: %s' % (path, to_native(exc)))
    if not isinstance(data, dict) or not isinstance(data.get('backends', {}), dict):
        module.fail_json(msg='weights_file %s does not hold {"backends": {...}}' % path)
    return text, data


def _render_weights_file(existing, weights):
    data = dict(existing)
    backends = dict(data.get('backends') or {})
    backends.update(weights)
    data['backends'] = backends
    return json.dumps(data, indent=2, sort_keys=True) + '\n'


def _write_atomically(module, path, content):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path))
    with os.fdopen(fd, 'w') as handle:
        handle.write(content)
    os.chmod(tmp, 0o644)
    module.atomic_move(tmp, path)


def run_module(module):
    params = module.params
    try:
        tuning = validate_params(**{name: params[name] for name in TUNING_OPTIONS})
    except WeightParamError as exc:
        module.fail_json(msg=to_native(exc))
    if params['timeout'] <= 0:
        module.fail_json(msg='timeout must be > 0, got %r' % params['timeout'])
    if not params['backends']:
        module.fail_json(msg='backends must name at least one backend')

    # Read the persisted file first: a bad file stops the run before anything changes.
    if params['weights_file']:
        file_before, file_data = _read_weights_file(module, params['weights_file'])
    if params['server_state_file']:
        directory = os.path.dirname(os.path.abspath(params['server_state_file']))
        if not os.path.isdir(directory):
            module.fail_json(msg='server_state_file: directory %s does not exist' % directory)

    runtime = HAProxyRuntime(params['socket'], params['timeout'])
    try:
        rows = runtime.show_stat()
    except HAProxyRuntimeError as exc:
        module.fail_json(msg=to_native(exc))

    known = backend_names(rows)
    missing = [name for name in params['backends'] if name not in known]
    if missing:
        module.fail_json(msg='backends not found in HAProxy: %s (known backends: %s)'
                         % (', '.join(missing), ', '.join(known) or 'none'))

    servers = []
    weights = {}
    for backend in params['backends']:
        inputs = [server_from_stats(row, params['latency_metric'], params['include_queue_time'])
                  for row in server_rows(rows, backend)]
        by_name = {item['name']: item for item in inputs}
        weights[backend] = {}
        for decision in compute_backend(inputs, tuning, params['include_backup']):
            source = by_name[decision['name']]
            servers.append({
                'backend': backend,
                'server': decision['name'],
                'status': source['status'],
                'old_weight': decision['old_weight'],
                'new_weight': decision['new_weight'],
                'target': decision['target'],
                'latency_ms': decision['latency_ms'],
                'error_ratio': source['error_ratio'],
                'action': decision['action'],
                'changed': decision['changed'],
                'reason': decision['reason'],
            })
            weights[backend][decision['name']] = decision['new_weight']

    moved = [s for s in servers if s['changed']]
    result = dict(changed=bool(moved), servers=servers, weights=weights,
                  weights_file_changed=False, server_state_file_changed=False)
    diffs = [dict(
        before_header='haproxy weights', after_header='haproxy weights',
        before=_weights_text([dict(s, weight=s['old_weight']) for s in servers]),
        after=_weights_text([dict(s, weight=s['new_weight']) for s in servers]),
    )]

    if not module.check_mode:
        applied = []
        for server in moved:
            name = '%s/%s' % (server['backend'], server['server'])
            try:
                runtime.set_weight(server['backend'], server['server'], server['new_weight'])
            except HAProxyRuntimeError as exc:
                module.fail_json(msg=to_native(exc), changed=bool(applied), applied=applied,
                                 servers=servers)
            applied.append(name)

    if params['weights_file']:
        path = params['weights_file']
        after = _render_weights_file(file_data, weights)
        if after != file_before:
            result['weights_file_changed'] = True
            result['changed'] = True
            diffs.append(dict(before_header=path, after_header=path,
                              before=file_before or '', after=after))
            if not module.check_mode:
                _write_atomically(module, path, after)

    if params['server_state_file']:
        path = params['server_state_file']
        if moved or not os.path.exists(path):
            result['server_state_file_changed'] = True
            result['changed'] = True
            if not module.check_mode:
                try:
                    state = runtime.show_servers_state()
                except HAProxyRuntimeError as exc:
                    module.fail_json(msg=to_native(exc), **result)
                _write_atomically(module, path, state)

    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module)


if __name__ == '__main__':
    main()
