#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: failover_check
short_description: Observe a replicated service, score the evidence and gate on split brain or a lost primary
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Gathers several signals per member of a service and returns each member's state
    (C(healthy), C(degraded), C(down), C(unknown)), the observed primary, a confidence score
    from 0 to 1, and a reconciliation of what the inventory declares against what was observed.
  - "Signals per member: TCP connect; HTTP status (O(http) or the member's C(http_url));
    latency (the slowest of the TCP and HTTP probes) against O(latency_threshold_ms);
    HAProxy's view of the server (O(haproxy)); and the service's own role: for
    V(postgresql), C(pg_is_in_recovery), WAL positions and C(pg_stat_wal_receiver) (via
    psycopg); for V(redis), C(ROLE) (via redis-py), plus the primary named by each
    Sentinel in O(sentinel)."
  - "Signal verdicts: C(tcp) up or down; C(http) up when the status is expected, else down;
    C(latency) up at or below the threshold, degraded above it, absent when nothing was
    measured; C(haproxy) C(UP) up, C(DOWN) down, C(DRAIN)/C(NOLB) degraded, C(MAINT), not
    found or unreadable stats unknown (in a primary-only backend a replica's C(DOWN) is
    expected and not counted); C(role) up for a primary and for a replica with a live link
    and lag within O(max_lag_bytes), degraded for a replica with a broken link or more lag,
    down when unreachable, unknown on an error after connecting (authentication,
    permissions). A signal that is not configured is absent: it neither helps nor hurts."
  - "Member state: signals that are up or degraded weigh for the member being up, down
    signals against; the heavier side wins (a tie is C(unknown)); an up member with any
    down or degraded signal is C(degraded). The member's agreement is the weight of the
    winning side over the weight of all its signals."
  - "Primary: each member saying it is primary votes for itself, each replica for the
    member it replicates from (or for nobody when its link is down), each Sentinel for the
    member at the address it names, and a primary-only HAProxy backend
    (O(haproxy.backend_role=primary)) for the members it routes to. Votes for nobody compete
    like a candidate, so replicas that all lost their primary give a confident C(no_primary).
    The most voted member is the observed primary if it says itself that it is primary."
  - "Confidence = mean member agreement x share of the votes won by the primary (the second
    factor only when a primary is evaluated). Weights of each signal are set in O(weights).
    Below O(min_confidence) the module refuses to declare a primary, a mismatch or a missing
    member and reports only C(low_confidence) (and C(split_brain), which is direct evidence)."
  - "Findings: C(split_brain) (two members say they are primary), C(low_confidence),
    C(no_primary), C(declared_primary_mismatch) (O(declared_primary) differs from the
    observed primary), C(member_missing) (a member is down or unknown, not in the HAProxy
    backend, or a replica does not follow the observed primary), C(member_unhealthy) (a
    member is not C(healthy)). The task fails when a finding listed in O(fail_on) is
    present, so the module can gate rolling restarts and check failovers."
  - The scoring lives in C(plugins/module_utils/_failover.py) as pure functions.
  - The module only reads; it never changes anything.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads, and does the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - psycopg >= 3.1 (for O(service=postgresql))
  - redis (redis-py) >= 5.0 (for O(service=redis))
options:
  members:
    description: Members of the service, as the inventory declares them.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Unique member name (usually the inventory hostname).
        type: str
        required: true
      host:
        description: Address to probe.
        type: str
        required: true
      port:
        description:
          - Service port. Defaults to 5432 for V(postgresql) and 6379 for V(redis); required
            for V(generic).
        type: int
      http_url:
        description: URL for the HTTP signal of this member, instead of one built from O(http).
        type: str
      haproxy_server:
        description: Name of this member's server in the HAProxy backend. Defaults to O(members[].name).
        type: str
  service:
    description:
      - Kind of service, which decides the role signal.
      - V(generic) has no role signal.
    type: str
    choices: [generic, postgresql, redis]
    default: generic
  declared_primary:
    description: Name of the member the inventory declares primary; must be one of O(members).
    type: str
  connect_timeout:
    description: Timeout in seconds for every network probe.
    type: float
    default: 3.0
  latency_threshold_ms:
    description: A member whose slowest probe takes longer (milliseconds) is degraded.
    type: float
    default: 200.0
  max_lag_bytes:
    description:
      - A replica further behind the observed primary than this is degraded (PostgreSQL WAL
        bytes replayed, Redis replication offset).
    type: int
    default: 16777216
  http:
    description: Build an HTTP probe for every member as C(SCHEME://HOST:PORT/PATH).
    type: dict
    suboptions:
      port:
        description: Port of the HTTP endpoint.
        type: int
        required: true
      path:
        description: Path of the HTTP endpoint.
        type: str
        default: /
      scheme:
        description: URL scheme.
        type: str
        choices: [http, https]
        default: http
      expected_status:
        description: HTTP status codes counted as up.
        type: list
        elements: int
        default: [200]
      validate_certs:
        description: Verify TLS certificates.
        type: bool
        default: true
  haproxy:
    description: Read HAProxy's view of each member from its runtime API or stats page.
    type: dict
    suboptions:
      socket:
        description: Runtime API address (unix socket path or C(HOST:PORT)).
        type: str
      stats_url:
        description: Stats page URL (C(;csv) is appended), e.g. C(http://127.0.0.1:8404/stats).
        type: str
      url_username:
        description: User for the stats page.
        type: str
      url_password:
        description: Password for the stats page.
        type: str
      validate_certs:
        description: Verify the stats page's TLS certificate.
        type: bool
        default: true
      backend:
        description: Backend whose servers are the members.
        type: str
        required: true
      backend_role:
        description:
          - V(any) when the backend routes to every healthy member (a DOWN server counts
            against the member).
          - V(primary) when the backend's checks only pass on the primary (for example a
            write backend). DOWN is then expected for replicas and not counted, and each UP
            server is a vote for that member as primary.
        type: str
        choices: [any, primary]
        default: any
  postgresql:
    description:
      - Connection settings for the PostgreSQL role signal (O(service=postgresql)).
      - The user needs C(pg_monitor) (or C(pg_read_all_stats)) to read where a replica
        replicates from; without it replicas abstain from the primary vote.
    type: dict
    suboptions:
      user:
        description: User to connect as.
        type: str
        default: postgres
      password:
        description: Password.
        type: str
      dbname:
        description: Database to connect to.
        type: str
        default: postgres
      sslmode:
        description: libpq C(sslmode).
        type: str
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
        default: prefer
  redis:
    description: Connection settings for the Redis role signal (O(service=redis)).
    type: dict
    suboptions:
      username:
        description: ACL user.
        type: str
      password:
        description: Password.
        type: str
      tls:
        description: Connect with TLS.
        type: bool
        default: false
  sentinel:
    description: Ask Redis Sentinels which member is the primary (O(service=redis) only).
    type: dict
    suboptions:
      addresses:
        description: Sentinels as C(HOST:PORT).
        type: list
        elements: str
        required: true
      master_name:
        description: Name of the monitored primary in Sentinel.
        type: str
        required: true
      username:
        description: Sentinel ACL user.
        type: str
      password:
        description: Sentinel password.
        type: str
  weights:
    description:
      - Weight of each signal in the member vote (C(tcp), C(http), C(latency), C(haproxy),
        C(role)) and of each vote for the primary (C(role) for members and replicas,
        C(sentinel) per Sentinel, C(haproxy) for a primary-only backend). Numbers >= 0;
        0 ignores a signal. Unset keys keep their default.
    type: dict
    suboptions:
      tcp:
        description: TCP connect signal.
        type: float
        default: 1.0
      http:
        description: HTTP status signal.
        type: float
        default: 1.0
      latency:
        description: Latency signal.
        type: float
        default: 0.5
      haproxy:
        description: HAProxy server status signal, and HAProxy's vote in a primary-only backend.
        type: float
        default: 1.0
      role:
        description: Service role signal, and each member's vote for the primary.
        type: float
        default: 2.0
      sentinel:
        description: Each Sentinel's vote for the primary.
        type: float
        default: 1.0
  min_confidence:
    description: Confidence (0 to 1) below which nothing is declared.
    type: float
    default: 0.7
  fail_on:
    description:
      - Findings that make the task fail. An empty list only reports.
    type: list
    elements: str
    choices: [split_brain, low_confidence, no_primary, declared_primary_mismatch, member_missing, member_unhealthy]
    default: [split_brain, low_confidence, no_primary]
notes:
  - Run it where the members are reachable, e.g. on the HAProxy host, or with
    C(delegate_to) and C(run_once).
seealso:
  - module: groundwork.platform.haproxy_weights
"""

EXAMPLES = r"""
- name: Gate a rolling restart of PostgreSQL on a clear picture
  groundwork.platform.failover_check:
    service: postgresql
    members:
      - {name: pg1, host: 10.0.0.11}
      - {name: pg2, host: 10.0.0.12}
      - {name: pg3, host: 10.0.0.13}
    declared_primary: pg1
    postgresql:
      user: monitor
      password: "{{ vault_postgresql_monitor_password }}"
    haproxy:
      socket: /run/haproxy/admin.sock
      backend: be_postgresql_write
      backend_role: primary
    fail_on: [split_brain, low_confidence, no_primary, declared_primary_mismatch, member_missing]
  run_once: true
  delegate_to: "{{ groups['haproxy'][0] }}"

- name: After a Sentinel failover, find the new Redis primary (report only)
  groundwork.platform.failover_check:
    service: redis
    members:
      - {name: redis1, host: 10.0.0.21}
      - {name: redis2, host: 10.0.0.22}
      - {name: redis3, host: 10.0.0.23}
    redis:
      password: "{{ vault_redis_password }}"
    sentinel:
      addresses: [10.0.0.21:26379, 10.0.0.22:26379, 10.0.0.23:26379]
      master_name: mymaster
      password: "{{ vault_redis_sentinel_password }}"
    fail_on: [split_brain]
  register: redis_view

- name: Use the observed primary
  ansible.builtin.debug:
    msg: "primary is {{ redis_view.primary }} (confidence {{ redis_view.confidence }})"

- name: A plain HTTP service behind HAProxy
  groundwork.platform.failover_check:
    members:
      - {name: app1, host: 10.0.0.31, port: 8080}
      - {name: app2, host: 10.0.0.32, port: 8080}
    http:
      port: 8080
      path: /healthz
    haproxy:
      stats_url: http://127.0.0.1:8404/stats
      backend: be_app
    fail_on: [low_confidence, member_unhealthy]
"""

RETURN = r"""
confidence:
  description: Confidence in the observed picture, 0 to 1.
  returned: always
  type: float
  sample: 0.95
declared:
  description: Whether the confidence reached O(min_confidence), i.e. whether anything is declared.
  returned: always
  type: bool
  sample: true
primary:
  description: Observed primary (member name); null when none, or when nothing is declared.
  returned: always
  type: str
  sample: pg1
findings:
  description: Findings present (see the description).
  returned: always
  type: list
  elements: str
  sample: [member_missing]
failed_findings:
  description: Findings present that are listed in O(fail_on).
  returned: always
  type: list
  elements: str
  sample: []
members:
  description: Per member, by name.
  returned: always
  type: dict
  contains:
    state:
      description: healthy, degraded, down or unknown.
      type: str
    agreement:
      description: Weight of the signals backing the state over the weight of all its signals.
      type: float
    signals:
      description: Verdict (up, degraded, down, unknown) per signal.
      type: dict
    role:
      description: primary, replica or null (unknown / no role signal).
      type: str
    upstream:
      description: For a replica, the member (or C(HOST:PORT)) it replicates from.
      type: str
    lag_bytes:
      description: For a replica, how far it is behind the observed primary.
      type: int
    observations:
      description: Raw probe results (latencies, HTTP status, HAProxy status, errors).
      type: dict
  sample:
    pg1: {state: healthy, agreement: 1.0, role: primary, upstream: null, lag_bytes: null,
          signals: {tcp: up, latency: up, role: up}, observations: {}}
reconciliation:
  description: Inventory against observation.
  returned: always
  type: dict
  contains:
    declared_primary:
      description: O(declared_primary).
      type: str
    observed_primary:
      description: Observed primary, null when none or not declared.
      type: str
    primaries:
      description: Members that say they are primary.
      type: list
      elements: str
    split_brain:
      description: More than one member says it is primary.
      type: bool
    no_primary:
      description: No primary observed; null when not evaluated.
      type: bool
    declared_primary_mismatch:
      description: The declared primary differs from the observed one; null when not evaluated.
      type: bool
    missing_members:
      description: Members not part of the service as observed, with a reason; null when not evaluated.
      type: list
      elements: dict
    unhealthy_members:
      description: Members whose state is not healthy; null when not evaluated.
      type: list
      elements: str
    unknown_primary_candidates:
      description: Addresses voted for as primary that are not members.
      type: list
      elements: str
votes:
  description: Votes for the primary (source, candidate, weight).
  returned: always
  type: list
  elements: dict
primary_share:
  description: Share of the vote weight won by the most voted candidate.
  returned: always
  type: float
member_confidence:
  description: Mean member agreement.
  returned: always
  type: float
sentinels:
  description: What each Sentinel in O(sentinel) answered (source, candidate, error).
  returned: always
  type: list
  elements: dict
  sample: [{"source": "sentinel 10.0.0.21:26379", "candidate": "redis1", "error": null}]
haproxy_error:
  description: Why HAProxy's view could not be read (its signals are then unknown).
  returned: when O(haproxy) is set and HAProxy could not be read
  type: str
"""

import socket
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.six.moves.urllib.error import HTTPError
from ansible.module_utils.urls import open_url

from ansible_collections.groundwork.platform.plugins.module_utils._failover import (
    DEFAULT_WEIGHTS,
    FINDINGS,
    PRIMARY,
    REPLICA,
    FailoverParamError,
    assess,
    lsn_to_int,
    match_address,
    validate_min_confidence,
    validate_weights,
)
from ansible_collections.groundwork.platform.plugins.module_utils._haproxy_runtime import (
    HAProxyRuntime,
    HAProxyRuntimeError,
    fetch_stats_url,
    server_rows,
)

try:
    import psycopg
except ImportError:
    psycopg = None
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()
else:
    PSYCOPG_IMPORT_ERROR = None

try:
    import redis
except ImportError:
    redis = None
    REDIS_IMPORT_ERROR = traceback.format_exc()
else:
    REDIS_IMPORT_ERROR = None

DEFAULT_PORTS = {'postgresql': 5432, 'redis': 6379}
MAX_WORKERS = 8

PG_ROLE_QUERY = """
SELECT pg_is_in_recovery(),
       (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
             ELSE pg_current_wal_lsn() END)::text,
       r.pid IS NOT NULL, r.status, r.sender_host, r.sender_port
FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS r ON true
"""


def argument_spec():
    weight_options = {name: dict(type='float', default=value)
                      for name, value in DEFAULT_WEIGHTS.items()}
    return dict(
        members=dict(type='list', elements='dict', required=True, options=dict(
            name=dict(type='str', required=True),
            host=dict(type='str', required=True),
            port=dict(type='int'),
            http_url=dict(type='str'),
            haproxy_server=dict(type='str'),
        )),
        service=dict(type='str', choices=['generic', 'postgresql', 'redis'], default='generic'),
        declared_primary=dict(type='str'),
        connect_timeout=dict(type='float', default=3.0),
        latency_threshold_ms=dict(type='float', default=200.0),
        max_lag_bytes=dict(type='int', default=16 * 1024 * 1024),
        http=dict(type='dict', options=dict(
            port=dict(type='int', required=True),
            path=dict(type='str', default='/'),
            scheme=dict(type='str', choices=['http', 'https'], default='http'),
            expected_status=dict(type='list', elements='int', default=[200]),
            validate_certs=dict(type='bool', default=True),
        )),
        haproxy=dict(type='dict', options=dict(
            socket=dict(type='str'),
            stats_url=dict(type='str'),
            url_username=dict(type='str'),
            url_password=dict(type='str', no_log=True),
            validate_certs=dict(type='bool', default=True),
            backend=dict(type='str', required=True),
            backend_role=dict(type='str', choices=['any', 'primary'], default='any'),
        ), mutually_exclusive=[('socket', 'stats_url')], required_one_of=[('socket', 'stats_url')]),
        postgresql=dict(type='dict', options=dict(
            user=dict(type='str', default='postgres'),
            password=dict(type='str', no_log=True),
            dbname=dict(type='str', default='postgres'),
            sslmode=dict(type='str', default='prefer',
                         choices=['disable', 'allow', 'prefer', 'require', 'verify-ca',
                                  'verify-full']),
        )),
        redis=dict(type='dict', options=dict(
            username=dict(type='str'),
            password=dict(type='str', no_log=True),
            tls=dict(type='bool', default=False),
        )),
        sentinel=dict(type='dict', options=dict(
            addresses=dict(type='list', elements='str', required=True),
            master_name=dict(type='str', required=True),
            username=dict(type='str'),
            password=dict(type='str', no_log=True),
        )),
        weights=dict(type='dict', options=weight_options),
        min_confidence=dict(type='float', default=0.7),
        fail_on=dict(type='list', elements='str', choices=list(FINDINGS),
                     default=['split_brain', 'low_confidence', 'no_primary']),
    )


# ---------------------------------------------------------------------------
# Parameter checks (all before any probe)

def _split_host_port(text, parameter):
    host, sep, port = str(text).rpartition(':')
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise FailoverParamError('%s must be HOST:PORT, got %r' % (parameter, text))
    return host.strip('[]'), int(port)


def check_params(params):
    """Validate cross-option rules; return (members, weights, min_confidence, sentinels)."""
    service = params['service']
    members = []
    seen = set()
    for index, item in enumerate(params['members']):
        name = item['name']
        if name in seen:
            raise FailoverParamError('members[%d].name %r is not unique' % (index, name))
        seen.add(name)
        port = item['port'] if item['port'] is not None else DEFAULT_PORTS.get(service)
        if port is None:
            raise FailoverParamError('members[%d].port is required when service is generic'
                                     % index)
        if not 0 < port < 65536:
            raise FailoverParamError('members[%d].port must be 1-65535, got %d' % (index, port))
        members.append(dict(item, port=port))
    if not members:
        raise FailoverParamError('members must list at least one member')
    if params['declared_primary'] is not None and params['declared_primary'] not in seen:
        raise FailoverParamError('declared_primary %r is not one of members (%s)'
                                 % (params['declared_primary'], ', '.join(sorted(seen))))
    if params['connect_timeout'] <= 0:
        raise FailoverParamError('connect_timeout must be > 0, got %r' % params['connect_timeout'])
    if params['latency_threshold_ms'] <= 0:
        raise FailoverParamError('latency_threshold_ms must be > 0, got %r'
                                 % params['latency_threshold_ms'])
    if params['max_lag_bytes'] < 0:
        raise FailoverParamError('max_lag_bytes must be >= 0, got %r' % params['max_lag_bytes'])
    if params['http'] and not 0 < params['http']['port'] < 65536:
        raise FailoverParamError('http.port must be 1-65535, got %r' % params['http']['port'])
    if params['sentinel'] and service != 'redis':
        raise FailoverParamError('sentinel is only valid with service: redis')
    if params['postgresql'] and service != 'postgresql':
        raise FailoverParamError('postgresql is only valid with service: postgresql')
    if params['redis'] and service != 'redis':
        raise FailoverParamError('redis is only valid with service: redis')
    sentinels = []
    if params['sentinel']:
        if not params['sentinel']['addresses']:
            raise FailoverParamError('sentinel.addresses must list at least one HOST:PORT')
        for index, address in enumerate(params['sentinel']['addresses']):
            sentinels.append(_split_host_port(address, 'sentinel.addresses[%d]' % index))
    weights = validate_weights(params['weights'])
    min_confidence = validate_min_confidence(params['min_confidence'])
    return members, weights, min_confidence, sentinels


# ---------------------------------------------------------------------------
# Probes (network I/O; the verdicts are computed in _failover)

def _elapsed_ms(start):
    return round((time.monotonic() - start) * 1000.0, 3)


def probe_tcp(host, port, timeout):
    start = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except (OSError, ValueError) as exc:
        return {'ok': False, 'ms': None, 'error': to_native(exc)}
    sock.close()
    return {'ok': True, 'ms': _elapsed_ms(start), 'error': None}


def probe_http(url, timeout, validate_certs):
    start = time.monotonic()
    try:
        response = open_url(url, timeout=timeout, validate_certs=validate_certs,
                            follow_redirects='none')
        status = response.getcode()
        response.read()
    except HTTPError as exc:
        status = exc.code
    except Exception as exc:  # URLError, socket errors, TLS errors: no answer
        return {'url': url, 'status': None, 'ms': None, 'error': to_native(exc)}
    return {'url': url, 'status': status, 'ms': _elapsed_ms(start), 'error': None}


class AddressBook:
    """Maps (host, port) seen in replication or Sentinel answers to member names."""

    def __init__(self, members):
        self._cache = {}
        self.addresses = {}
        for member in members:
            hosts = {member['host']} | self._resolve(member['host'])
            self.addresses[member['name']] = {(h, member['port']) for h in hosts}

    def _resolve(self, host):
        if host not in self._cache:
            try:
                infos = socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM)
                self._cache[host] = {info[4][0] for info in infos}
            except (OSError, UnicodeError):
                self._cache[host] = set()
        return self._cache[host]

    def candidate(self, host, port):
        """Member name at host:port, else the text 'HOST:PORT'; None when host is None."""
        if host is None or port is None:
            return None
        for address in [host] + sorted(self._resolve(host)):
            name = match_address(address, port, self.addresses)
            if name is not None:
                return name
        return '%s:%s' % (host, port)


def probe_postgresql(member, settings, timeout, book):
    try:
        with psycopg.connect(host=member['host'], port=member['port'], user=settings['user'],
                             password=settings['password'], dbname=settings['dbname'],
                             sslmode=settings['sslmode'], connect_timeout=max(1, int(timeout)),
                             application_name='groundwork-failover-check',
                             autocommit=True) as conn:
            with conn.cursor() as cur:
                cur.execute(PG_ROLE_QUERY)
                in_recovery, lsn, receiver, status, sender_host, sender_port = cur.fetchone()
    except Exception as exc:  # psycopg.Error and socket errors alike: reported, not raised
        return {'reachable': True, 'error': to_native(exc).strip()}
    observation = {'reachable': True, 'error': None, 'position': lsn_to_int(lsn),
                   'lsn': lsn, 'upstream': None, 'link_ok': None}
    if not in_recovery:
        observation['role'] = PRIMARY
        return observation
    observation['role'] = REPLICA
    if not receiver:
        observation['link_ok'] = False  # no WAL receiver running
    elif status is not None:
        observation['link_ok'] = status == 'streaming'
        observation['upstream'] = book.candidate(sender_host, sender_port)
    observation['wal_receiver_status'] = status
    return observation


def _redis_client(host, port, settings, timeout):
    # RESP2 keeps the reply shapes the same on every server version (no HELLO).
    return redis.Redis(host=host, port=port, username=settings.get('username'),
                       password=settings.get('password'), ssl=bool(settings.get('tls')),
                       socket_timeout=timeout, socket_connect_timeout=timeout,
                       decode_responses=True, protocol=2)


def probe_redis(member, settings, timeout, book):
    client = _redis_client(member['host'], member['port'], settings, timeout)
    try:
        answer = client.execute_command('ROLE')
    except Exception as exc:  # redis.RedisError and socket errors: reported, not raised
        return {'reachable': True, 'error': to_native(exc)}
    finally:
        client.close()
    kind = answer[0]
    if kind == 'master':
        return {'reachable': True, 'error': None, 'role': PRIMARY, 'position': int(answer[1]),
                'upstream': None, 'link_ok': None,
                'replicas': ['%s:%s' % (r[0], r[1]) for r in answer[2]]}
    if kind == 'slave':
        return {'reachable': True, 'error': None, 'role': REPLICA,
                'upstream': book.candidate(answer[1], int(answer[2])),
                'link_ok': answer[3] == 'connected', 'link_state': answer[3],
                'position': int(answer[4]) if int(answer[4]) >= 0 else None}
    return {'reachable': True, 'error': 'unexpected ROLE answer %r' % (kind,)}


def probe_sentinel(address, settings, timeout, book):
    host, port = address
    source = 'sentinel %s:%d' % (host, port)
    client = _redis_client(host, port, settings, timeout)
    try:
        answer = client.sentinel_get_master_addr_by_name(settings['master_name'])
    except Exception as exc:  # redis.RedisError and socket errors: reported, not raised
        return {'source': source, 'candidate': None, 'error': to_native(exc)}
    finally:
        client.close()
    if not answer:
        return {'source': source, 'candidate': None,
                'error': 'sentinel does not know %s' % settings['master_name']}
    return {'source': source, 'candidate': book.candidate(answer[0], int(answer[1])),
            'error': None}


def read_haproxy(settings, timeout):
    """Server rows of the backend by server name, or (None, error)."""
    try:
        if settings['socket']:
            rows = HAProxyRuntime(settings['socket'], timeout).show_stat()
        else:
            rows = fetch_stats_url(settings['stats_url'], timeout, settings['url_username'],
                                   settings['url_password'], settings['validate_certs'])
    except HAProxyRuntimeError as exc:
        return None, to_native(exc)
    if not any(r.get('pxname') == settings['backend'] and r.get('svname') == 'BACKEND'
               for r in rows):
        return None, 'backend %s not found in HAProxy' % settings['backend']
    return {row['svname']: row for row in server_rows(rows, settings['backend'])}, None


def observe_member(member, params, role_settings, book):
    """Raw observations of one member: TCP, HTTP when configured, the role for a service."""
    timeout = params['connect_timeout']
    raw = {'tcp': probe_tcp(member['host'], member['port'], timeout)}
    url = member.get('http_url')
    http = params['http']
    if not url and http:
        path = http['path'] if http['path'].startswith('/') else '/' + http['path']
        url = '%s://%s:%d%s' % (http['scheme'], member['host'], http['port'], path)
    if url:
        raw['http'] = probe_http(url, timeout, http['validate_certs'] if http else True)
    service = params['service']
    if service != 'generic':
        if not raw['tcp']['ok']:
            raw['role'] = {'reachable': False, 'error': raw['tcp']['error']}
        elif service == 'postgresql':
            raw['role'] = probe_postgresql(member, role_settings, timeout, book)
        else:
            raw['role'] = probe_redis(member, role_settings, timeout, book)
    return raw


def suboption_defaults(option):
    spec = argument_spec()[option]['options']
    return {name: value.get('default') for name, value in spec.items()}


def run_module(module):
    params = module.params
    try:
        members, weights, min_confidence, sentinels = check_params(params)
    except FailoverParamError as exc:
        module.fail_json(msg=to_native(exc))
    if params['service'] == 'postgresql' and psycopg is None:
        module.fail_json(msg=missing_required_lib('psycopg'), exception=PSYCOPG_IMPORT_ERROR)
    if params['service'] == 'redis' and redis is None:
        module.fail_json(msg=missing_required_lib('redis'), exception=REDIS_IMPORT_ERROR)

    role_settings = {}
    if params['service'] != 'generic':
        role_settings = params[params['service']] or suboption_defaults(params['service'])
    book = AddressBook(members)
    workers = min(MAX_WORKERS, len(members) + len(sentinels))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {m['name']: pool.submit(observe_member, m, params, role_settings, book)
                   for m in members}
        sentinel_settings = dict(params['sentinel'] or {})
        sentinel_futures = [pool.submit(probe_sentinel, address, sentinel_settings,
                                        params['connect_timeout'], book)
                            for address in sentinels]
        haproxy_rows, haproxy_error = (None, None)
        if params['haproxy']:
            haproxy_rows, haproxy_error = read_haproxy(params['haproxy'],
                                                       params['connect_timeout'])
        raw_by_member = {name: future.result() for name, future in futures.items()}
        sentinel_votes = [future.result() for future in sentinel_futures]

    if params['haproxy']:
        for member in members:
            server = member.get('haproxy_server') or member['name']
            row = (haproxy_rows or {}).get(server)
            raw_by_member[member['name']]['haproxy'] = {
                'server': server,
                'status': row.get('status') if row else None,
                'check_status': row.get('check_status') if row else None,
                'error': haproxy_error,
            }

    http = params['http'] or {}
    config = {
        'latency_threshold_ms': params['latency_threshold_ms'],
        'expected_http_status': tuple(http.get('expected_status') or (200,)),
        'max_lag_bytes': params['max_lag_bytes'],
        'haproxy_backend_role': (params['haproxy'] or {}).get('backend_role', 'any'),
    }
    result = assess(raw_by_member, config, weights, min_confidence,
                    declared_primary=params['declared_primary'],
                    sentinel_votes=sentinel_votes,
                    role_service=params['service'] != 'generic')
    for name, member in result['members'].items():
        member['observations'] = raw_by_member[name]
    result['sentinels'] = sentinel_votes
    if haproxy_error:
        result['haproxy_error'] = haproxy_error
    failed = [finding for finding in result['findings'] if finding in params['fail_on']]
    result['failed_findings'] = failed
    result['changed'] = False
    if failed:
        module.fail_json(msg='failover check failed: %s (confidence %.2f, primary %s)'
                         % (', '.join(failed), result['confidence'], result['primary']),
                         **result)
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module)


if __name__ == '__main__':
    main()
