# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""failover_check against real PostgreSQL, Redis + Sentinel and HAProxy on loopback."""

import pytest

from _helpers import MONITOR_PASSWORD, REDIS_PASSWORD, SENTINEL_PASSWORD, run_module, wait_for

ALL_FINDINGS = ['split_brain', 'low_confidence', 'no_primary', 'declared_primary_mismatch',
                'member_missing', 'member_unhealthy']
# Loopback is fast, but a loaded CI machine must not turn latency into a finding.
LATENCY_MS = 5000.0


def check(workdir, **args):
    args.setdefault('latency_threshold_ms', LATENCY_MS)
    return run_module('groundwork.platform.failover_check', args, workdir)


# ---------------------------------------------------------------------------
# PostgreSQL

def pg_args(cluster, **extra):
    args = {'service': 'postgresql', 'members': cluster.members(),
            'postgresql': {'user': 'monitor', 'password': MONITOR_PASSWORD,
                           'sslmode': 'disable'}}
    args.update(extra)
    return args


@pytest.fixture
def pg_haproxy(pg_cluster, start_haproxy):
    haproxy = start_haproxy(
        'backend be_pg\n'
        '  mode tcp\n'
        '  server pg1 127.0.0.1:%d check inter 300ms\n'
        '  server pg2 127.0.0.1:%d check inter 300ms\n'
        % (pg_cluster.ports['pg1'], pg_cluster.ports['pg2']))
    wait_for(lambda: all(haproxy.stat('be_pg', s)['status'] == 'UP' for s in ('pg1', 'pg2')),
             30, 'both PostgreSQL servers UP in HAProxy')
    return haproxy


def test_postgresql_healthy_cluster(pg_cluster, pg_haproxy, workdir):
    pg_cluster.sql('pg1', 'CREATE TABLE t AS SELECT generate_series(1, 1000) AS n')
    result = check(workdir, **pg_args(
        pg_cluster, declared_primary='pg1', fail_on=ALL_FINDINGS,
        haproxy={'socket': str(pg_haproxy.socket), 'backend': 'be_pg'}))
    assert not result.get('failed'), result
    assert result['primary'] == 'pg1'
    assert result['confidence'] == 1.0
    assert result['findings'] == []
    pg1, pg2 = result['members']['pg1'], result['members']['pg2']
    assert pg1['role'] == 'primary' and pg2['role'] == 'replica'
    assert pg2['upstream'] == 'pg1'                     # read from pg_stat_wal_receiver
    assert isinstance(pg2['lag_bytes'], int) and pg2['lag_bytes'] >= 0
    assert pg1['signals'] == {'tcp': 'up', 'latency': 'up', 'haproxy': 'up', 'role': 'up'}
    assert MONITOR_PASSWORD not in str(result)

    # The same picture from the stats page instead of the runtime socket.
    result = check(workdir, **pg_args(
        pg_cluster, haproxy={'stats_url': pg_haproxy.stats_url, 'backend': 'be_pg'}))
    assert not result.get('failed'), result
    assert result['members']['pg2']['signals']['haproxy'] == 'up'
    assert result['primary'] == 'pg1'


def test_postgresql_wrong_password_is_unknown_and_refused(pg_cluster, workdir):
    args = pg_args(pg_cluster)
    args['postgresql']['password'] = 'wrong'
    result = check(workdir, **args)
    assert result.get('failed') is True
    assert result['failed_findings'] == ['low_confidence']
    assert result['primary'] is None
    assert result['members']['pg1']['signals']['role'] == 'unknown'
    assert 'password authentication failed' in \
        result['members']['pg1']['observations']['role']['error']


def test_postgresql_failover_story(pg_cluster, workdir):
    # 1. The primary dies: pg1 down, the replica has lost it -> no primary.
    pg_cluster.stop('pg1')
    wait_for(lambda: pg_cluster.sql('pg2', "SELECT count(*) FROM pg_stat_wal_receiver "
                                           "WHERE status = 'streaming'") == '0',
             30, 'pg2 to lose its WAL stream')
    result = check(workdir, **pg_args(pg_cluster, declared_primary='pg1'))
    assert result.get('failed') is True, result
    assert result['members']['pg1']['state'] == 'down'
    assert result['members']['pg2']['role'] == 'replica'
    assert 'no_primary' in result['failed_findings']
    assert result['primary'] is None

    # 2. pg2 is promoted: the new primary is observed; the inventory is now stale.
    pg_cluster.promote('pg2')
    result = check(workdir, **pg_args(pg_cluster, declared_primary='pg1'))
    assert not result.get('failed'), result          # default fail_on: nothing to stop for
    assert result['primary'] == 'pg2'
    assert result['findings'] == ['declared_primary_mismatch', 'member_missing',
                                  'member_unhealthy']
    result = check(workdir, **pg_args(pg_cluster, declared_primary='pg1',
                                      fail_on=['declared_primary_mismatch']))
    assert result.get('failed') is True
    assert result['failed_findings'] == ['declared_primary_mismatch']

    # 3. The old primary comes back without being fenced: two primaries.
    pg_cluster.start('pg1')
    result = check(workdir, **pg_args(pg_cluster))
    assert result.get('failed') is True
    assert 'split_brain' in result['failed_findings']
    assert result['reconciliation']['primaries'] == ['pg1', 'pg2']


# ---------------------------------------------------------------------------
# Redis with Sentinel and a primary-only HAProxy backend

@pytest.fixture
def redis_haproxy(redis_cluster, start_haproxy):
    checks = ''.join(
        '  server %s 127.0.0.1:%d check inter 300ms fall 1 rise 1\n' % (name, port)
        for name, port in sorted(redis_cluster.ports.items()))
    haproxy = start_haproxy(
        'backend be_redis_write\n'
        '  mode tcp\n'
        '  option tcp-check\n'
        '  tcp-check send AUTH\\ %s\\r\\n\n'
        '  tcp-check expect string +OK\n'
        '  tcp-check send info\\ replication\\r\\n\n'
        '  tcp-check expect string role:master\n'
        '  tcp-check send QUIT\\r\\n\n'
        '  tcp-check expect string +OK\n' % REDIS_PASSWORD + checks)
    wait_for(lambda: haproxy.stat('be_redis_write', 'r1')['status'] == 'UP'
             and haproxy.stat('be_redis_write', 'r2')['status'].startswith('DOWN'),
             30, 'HAProxy to route writes to r1 only')
    return haproxy


def redis_args(cluster, haproxy=None, **extra):
    args = {'service': 'redis', 'members': cluster.members(),
            'redis': {'password': REDIS_PASSWORD},
            'sentinel': {'addresses': ['127.0.0.1:%d' % cluster.sentinel_port],
                         'master_name': 'mymaster', 'password': SENTINEL_PASSWORD}}
    if haproxy is not None:
        args['haproxy'] = {'socket': str(haproxy.socket), 'backend': 'be_redis_write',
                           'backend_role': 'primary'}
    args.update(extra)
    return args


def test_redis_sentinel_failover(redis_cluster, redis_haproxy, workdir):
    result = check(workdir, **redis_args(redis_cluster, redis_haproxy, declared_primary='r1',
                                         fail_on=ALL_FINDINGS))
    assert not result.get('failed'), result
    assert result['primary'] == 'r1' and result['confidence'] == 1.0
    assert result['sentinels'][0]['candidate'] == 'r1'
    assert result['members']['r2']['upstream'] == 'r1'
    assert isinstance(result['members']['r2']['lag_bytes'], int)
    # DOWN in a primary-only backend is expected for the replica and not held against it
    assert 'haproxy' not in result['members']['r2']['signals']
    assert {'source': 'haproxy (routes to)', 'candidate': 'r1', 'weight': 1.0} in result['votes']
    assert REDIS_PASSWORD not in str(result) and SENTINEL_PASSWORD not in str(result)

    # Sentinel fails over to r2; wait until every component agrees.
    redis_cluster.sentinel('failover', 'mymaster')
    r2_address = ['127.0.0.1', str(redis_cluster.ports['r2'])]
    wait_for(lambda: list(redis_cluster.sentinel('get-master-addr-by-name', 'mymaster'))
             == r2_address, 60, 'Sentinel to name r2')
    wait_for(lambda: redis_cluster.role('r1')[0] == 'slave'
             and redis_cluster.role('r1')[3] == 'connected', 60, 'r1 to follow r2')
    wait_for(lambda: redis_haproxy.stat('be_redis_write', 'r2')['status'] == 'UP'
             and redis_haproxy.stat('be_redis_write', 'r1')['status'].startswith('DOWN'),
             30, 'HAProxy to route writes to r2')

    result = check(workdir, **redis_args(redis_cluster, redis_haproxy, declared_primary='r1',
                                         fail_on=['declared_primary_mismatch']))
    assert result.get('failed') is True
    assert result['failed_findings'] == ['declared_primary_mismatch']
    assert result['reconciliation']['observed_primary'] == 'r2'
    assert result['members']['r1']['upstream'] == 'r2'
    assert result['sentinels'][0]['candidate'] == 'r2'

    result = check(workdir, **redis_args(redis_cluster, redis_haproxy, declared_primary='r2',
                                         fail_on=ALL_FINDINGS))
    assert not result.get('failed'), result
    assert result['primary'] == 'r2' and result['confidence'] == 1.0


def test_redis_replica_lost_and_sentinel_unreachable(redis_cluster, processes, workdir):
    processes.stop(redis_cluster.procs['sentinel'])
    processes.stop(redis_cluster.procs['r1'])
    wait_for(lambda: redis_cluster.role('r2')[3] != 'connected', 30, 'r2 to lose r1')
    result = check(workdir, **redis_args(redis_cluster, fail_on=[]))
    assert not result.get('failed'), result
    assert result['members']['r1']['state'] == 'down'
    assert result['members']['r2']['state'] == 'degraded'     # replication link is down
    assert result['sentinels'][0]['candidate'] is None and result['sentinels'][0]['error']
    assert 'no_primary' in result['findings']
    assert result['primary'] is None
