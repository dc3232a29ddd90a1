# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The duckdb_* modules run through ansible-playbook (AnsiballZ, as in production) against
real database files: check mode and diff through Ansible, idempotence, a destructive change
refused, one load mixing a CSV glob and a JSON file into typed columns, validation and the
metrics file.

The unit tests (tests/unit/plugins/modules/test_duckdb_*.py) call the modules' main() in
process; these run them the way a playbook does. What the modules did is read back with the
duckdb package directly, not through the modules.
(Ported from the ansible-test target tests/integration/targets/duckdb_modules, which no
stage ran.)
"""

import os

import duckdb
import pytest

from _helpers import run_module

COLUMNS = [
    {'name': 'case_id', 'type': 'INTEGER', 'primary_key': True},
    {'name': 'title', 'type': 'VARCHAR', 'nullable': False},
    {'name': 'status', 'type': "ENUM('open', 'closed')", 'nullable': False, 'default': "'open'"},
    {'name': 'opened_at', 'type': 'TIMESTAMPTZ', 'nullable': False},
    {'name': 'budget', 'type': 'DECIMAL(12,2)', 'check': 'budget >= 0'},
    {'name': 'tags', 'type': 'VARCHAR[]'},
    {'name': 'attrs', 'type': 'JSON'},
]
TABLE = {'schema': 'lab', 'name': 'cases', 'columns': COLUMNS, 'indexes': [{'columns': ['status']}]}
CSV = ('case_id,title,status,opened_at,budget,tags,attrs\n'
       '1,Phishing,open,2024-01-01 10:00:00+00,100.50,"[mail, phishing]","{""src"": ""mail""}"\n'
       '2,Fraud,closed,2024-02-01 10:00:00+00,2000,[],\n')
JSON_LINE = ('{"case_id": 3, "title": "Malware", "status": "open", "opened_at": "2024-03-01T10:00:00Z", '
             '"budget": 5, "tags": ["edr"], "attrs": {"host": "ws-1"}}\n')


def module(workdir, name, args, check=False, diff=False):
    return run_module('groundwork.platform.%s' % name, args, workdir, check=check, diff=diff)


def query(path, sql):
    """The database file is lab.duckdb and the schema lab: qualify tables as lab.lab.<table>."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def db(workdir):
    return str(workdir / 'lab.duckdb')


@pytest.fixture
def table(db, workdir):
    made = module(workdir, 'duckdb_database', {'database': db, 'threads': 1, 'memory_limit': '512MiB'})
    assert not made.get('failed'), made.get('msg', made)
    created = module(workdir, 'duckdb_table', dict(TABLE, database=db))
    assert not created.get('failed'), created.get('msg', created)
    # (not created['action']: the json callback replaces that key with the task's action name)
    assert created['changed'] is True
    assert created['changes'] == ['create schema lab', 'create table lab.cases', 'create index cases_status_idx']
    return db


def test_database_check_mode_then_create_idempotently(db, workdir):
    args = {'database': db, 'threads': 1, 'memory_limit': '512MiB', 'init_file': str(workdir / 'lab.sql')}
    checked = module(workdir, 'duckdb_database', args, check=True)
    assert not checked.get('failed'), checked.get('msg', checked)
    assert checked['changed'] is True
    assert not os.path.exists(db) and not (workdir / 'lab.sql').exists()

    created = module(workdir, 'duckdb_database', args)
    assert not created.get('failed'), created.get('msg', created)
    assert created['changed'] is True and os.path.exists(db)
    assert created['settings']['threads'] == '1'
    assert created['effective_settings']['memory_limit'] == '512.0 MiB'
    init = (workdir / 'lab.sql').read_text()
    assert "SET threads = '1';" in init and "SET memory_limit = '512MiB';" in init

    again = module(workdir, 'duckdb_database', args)
    assert not again.get('failed'), again.get('msg', again)
    assert again['changed'] is False


def test_table_diff_check_mode_and_destructive_change_refused(table, workdir):
    db = table
    names = [row[0] for row in query(db, "SELECT column_name FROM duckdb_columns() "
                                         "WHERE schema_name = 'lab' AND table_name = 'cases' ORDER BY column_index")]
    assert names == [c['name'] for c in COLUMNS]
    assert query(db, "SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'cases'") == [(1,)]

    rerun = module(workdir, 'duckdb_table', dict(TABLE, database=db), check=True, diff=True)
    assert not rerun.get('failed'), rerun.get('msg', rerun)
    assert rerun['changed'] is False and rerun['statements'] == []
    assert rerun['diff']['before'] == rerun['diff']['after'] and 'CREATE TABLE' in rerun['diff']['after']

    refused = module(workdir, 'duckdb_table', dict(TABLE, database=db, columns=COLUMNS[:-1]))
    assert refused.get('failed') is True
    assert 'refusing destructive changes' in refused['msg'] and 'attrs' in refused['msg'], refused['msg']
    assert 'attrs' in [row[0] for row in query(db, "SELECT column_name FROM duckdb_columns() "
                                                   "WHERE table_name = 'cases'")]


def test_load_a_csv_glob_and_a_json_file_into_typed_columns(table, workdir):
    db = table
    (workdir / 'cases-1.csv').write_text(CSV)
    (workdir / 'cases-2.json').write_text(JSON_LINE)
    args = {'database': db, 'schema': 'lab', 'table': 'cases',
            'src': [str(workdir / 'cases-*.csv'), str(workdir / 'cases-2.json')]}

    checked = module(workdir, 'duckdb_load', args, check=True)
    assert not checked.get('failed'), checked.get('msg', checked)
    assert checked['changed'] is True and checked['rows_loaded'] == 0
    assert query(db, 'SELECT count(*) FROM lab.lab.cases') == [(0,)]

    loaded = module(workdir, 'duckdb_load', args)
    assert not loaded.get('failed'), loaded.get('msg', loaded)
    assert loaded['changed'] is True and loaded['rows_loaded'] == 3 and loaded['table_rows'] == 3
    assert [(os.path.basename(f['path']), f['format'], f['rows']) for f in loaded['files']] == \
        [('cases-1.csv', 'csv', 2), ('cases-2.json', 'json', 1)]
    rows = query(db, "SELECT case_id, title, status::VARCHAR, epoch(opened_at)::BIGINT, budget::VARCHAR, tags, "
                     "json_extract_string(attrs, '$.src'), json_extract_string(attrs, '$.host') "
                     "FROM lab.lab.cases ORDER BY case_id")
    assert rows == [
        (1, 'Phishing', 'open', 1704103200, '100.50', ['mail', 'phishing'], 'mail', None),
        (2, 'Fraud', 'closed', 1706781600, '2000.00', [], None, None),
        (3, 'Malware', 'open', 1709287200, '5.00', ['edr'], None, 'ws-1'),
    ]

    again = module(workdir, 'duckdb_load', args)
    assert not again.get('failed'), again.get('msg', again)
    assert again['changed'] is False and again['rows_loaded'] == 0 and again['table_rows'] == 3
    assert [f['status'] for f in again['files']] == ['skipped', 'skipped']
    assert query(db, 'SELECT count(*) FROM lab.lab.cases') == [(3,)]


@pytest.fixture
def loaded(table, workdir):
    (workdir / 'cases-1.csv').write_text(CSV)
    (workdir / 'cases-2.json').write_text(JSON_LINE)
    result = module(workdir, 'duckdb_load', {'database': table, 'schema': 'lab', 'table': 'cases',
                                             'src': [str(workdir / 'cases-1.csv'), str(workdir / 'cases-2.json')]})
    assert not result.get('failed'), result.get('msg', result)
    assert result['rows_loaded'] == 3
    return table


def test_validate_passes_and_reports_a_failing_check(loaded, workdir):
    valid = module(workdir, 'duckdb_validate', {
        'database': loaded, 'schema': 'lab', 'table': 'cases', 'columns': COLUMNS,
        'checks': [{'type': 'row_count', 'min': 3, 'max': 3},
                   {'type': 'unique', 'column': 'case_id'},
                   {'type': 'range', 'column': 'budget', 'min': 0, 'max': 10000},
                   {'type': 'allowed_values', 'column': 'status', 'values': ['open', 'closed']}]})
    assert not valid.get('failed'), valid.get('msg', valid)
    assert valid['passed'] is True and valid['changed'] is False and valid['failed_checks'] == []

    # budget 2000 is above 1000: reported, not failed, with fail_on_error false ...
    report = module(workdir, 'duckdb_validate', {
        'database': loaded, 'schema': 'lab', 'table': 'cases', 'fail_on_error': False,
        'checks': [{'type': 'range', 'column': 'budget', 'max': 1000}]})
    assert not report.get('failed'), report.get('msg', report)
    assert report['passed'] is False and report['failed_checks'] == ['range(budget)']
    # ... and a failed task by default
    failing = module(workdir, 'duckdb_validate', {
        'database': loaded, 'schema': 'lab', 'table': 'cases',
        'checks': [{'type': 'range', 'column': 'budget', 'max': 1000}]})
    assert failing.get('failed') is True and 'range(budget)' in failing['msg'], failing


def test_metrics_file_written_once_per_change(loaded, workdir):
    dest = workdir / 'duckdb.prom'
    args = {'databases': [loaded], 'dest': str(dest)}
    first = module(workdir, 'duckdb_metrics', args)
    assert not first.get('failed'), first.get('msg', first)
    assert first['changed'] is True
    text = dest.read_text()
    assert 'duckdb_table_rows{database="lab",schema="lab",table="cases"} 3\n' in text
    assert 'duckdb_up{database="lab",path="%s"} 1\n' % loaded in text
    inode = dest.stat().st_ino
    again = module(workdir, 'duckdb_metrics', args)
    assert not again.get('failed'), again.get('msg', again)
    assert again['changed'] is False and dest.stat().st_ino == inode and dest.read_text() == text
