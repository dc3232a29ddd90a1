"""Verify the duckdb role by using the databases with the real DuckDB on the host."""
import json
import re
import time

testinfra_hosts = ["ansible://all"]

PY = "/opt/groundwork/duckdb-venv/bin/python"
DB = "/var/lib/duckdb/forensics.duckdb"
# The catalog (file name) and the schema are both "forensics": qualify tables fully.
MANIFEST = "/var/lib/duckdb/datasets/forensics/manifest.json"



def _query(host, sql, read_only=True):
    code = (
        "import duckdb, json, sys\n"
        f"con = duckdb.connect({DB!r}, read_only={read_only})\n"
        f"print(json.dumps(con.execute({sql!r}).fetchall(), default=str))\n"
    )
    out = host.run(f"{PY} - <<'PYEOF'\n{code}PYEOF")
    return out


def test_pinned_duckdb_in_the_virtualenv(host):
    out = host.run(f"{PY} -c 'import duckdb; print(duckdb.__version__)'")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "2.0.0"


def test_database_owned_by_the_service_account(host):
    f = host.file(DB)
    assert f.exists and f.user == "duckdb" and f.group == "duckdb" and f.mode == 0o640
    assert host.user("duckdb").shell == "/usr/sbin/nologin"


def test_row_counts_equal_the_manifest(host):
    manifest = json.loads(host.file(MANIFEST).content_string)
    assert manifest["rows"]["events"] == 10000
    for table, rows in manifest["rows"].items():
        out = _query(host, f"SELECT count(*) FROM forensics.forensics.{table}")
        assert out.rc == 0, out.stderr
        assert json.loads(out.stdout) == [[rows]], table


def test_a_query_over_the_joined_tables(host):
    out = _query(host, """
        SELECT c.priority::VARCHAR, count(DISTINCT c.case_id), count(DISTINCT ev.evidence_id), count(*)
        FROM forensics.forensics.events e
        JOIN forensics.forensics.cases c USING (case_id)
        LEFT JOIN forensics.forensics.evidence ev ON ev.evidence_id = e.evidence_id
        GROUP BY 1 ORDER BY 1""")
    assert out.rc == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {r[0] for r in rows} <= {"low", "medium", "high", "critical"}
    manifest = json.loads(host.file(MANIFEST).content_string)
    # every event belongs to a case, so the join keeps them all
    assert sum(r[3] for r in rows) == manifest["rows"]["events"]
    assert all(r[1] > 0 for r in rows)


def test_constraints_hold(host):
    # a duplicate primary key, a failing CHECK and a NULL in a NOT NULL column are all refused
    bad = [
        "INSERT INTO forensics.forensics.cases (case_id, case_number, title, opened_at) "
        "SELECT case_id, 'X-dup', 't', now() FROM forensics.forensics.cases LIMIT 1",
        "INSERT INTO forensics.forensics.cases (case_id, case_number, title, opened_at, budget) "
        "VALUES (-1, 'X-neg', 't', now(), -5)",
        "INSERT INTO forensics.forensics.events (event_id, case_id, occurred_at, source, event_type, severity, host) "
        "VALUES (gen_random_uuid(), 1, now(), 'edr', 'process_start', 9, 'h')",
        "INSERT INTO forensics.forensics.evidence (evidence_id, case_id, item_no, kind, sha256, size_bytes, collected_at) "
        "VALUES (gen_random_uuid(), 1, 1, 'document', 'abc', 1, now())",
    ]
    for sql in bad:
        out = _query(host, sql, read_only=False)
        assert out.rc != 0, f"accepted: {sql}"
        assert "Constraint Error" in out.stderr or "constraint" in out.stderr.lower(), out.stderr
    # and a good row is accepted (then removed), so the failures above are the constraints
    good = ("INSERT INTO forensics.forensics.cases (case_id, case_number, title, opened_at, budget) "
            "VALUES (-2, 'X-ok', 't', now(), 5) RETURNING case_id")
    out = _query(host, good, read_only=False)
    assert out.rc == 0, out.stderr
    out = _query(host, "DELETE FROM forensics.forensics.cases WHERE case_id = -2 RETURNING case_id", read_only=False)
    assert out.rc == 0 and json.loads(out.stdout) == [[-2]], out.stderr


def test_metrics_file_and_node_exporter(host):
    prom = host.file("/var/lib/prometheus/node-exporter/duckdb.prom").content_string
    assert 'duckdb_up{database="forensics",path="/var/lib/duckdb/forensics.duckdb"} 1' in prom
    assert "duckdb_table_rows{" in prom
    addr = host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]
    out = host.run(f"curl -fsS --max-time 5 http://{addr}:9100/metrics")
    assert out.rc == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("duckdb_table_rows{")]
    assert any('table="events"' in line and line.endswith(" 10000") for line in lines), lines


PROM = "/var/lib/prometheus/node-exporter/duckdb.prom"
CASES_ROWS = 'duckdb_table_rows{database="forensics",schema="forensics",table="cases"}'
SERIES = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?$')


def _prom(host):
    """(inode, samples) of the metrics file; every line must be a comment or a valid sample."""
    out = host.run(f"stat -c %i {PROM} && cat {PROM}")
    assert out.rc == 0, out.stderr
    inode, _, text = out.stdout.partition("\n")
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        assert SERIES.match(name), line
        samples[name] = float(value)  # raises on anything but a number
    return inode.strip(), samples


def _run_metrics_service(host, expected_cases, before_inode):
    """Start the timer's service now and wait (bounded) for the file to show expected_cases."""
    out = host.run("systemctl start duckdb-metrics.service")
    assert out.rc == 0, out.stdout + out.stderr
    shown = host.run("systemctl show -p Result -p ExecMainStatus duckdb-metrics.service").stdout
    result = dict(line.split("=", 1) for line in shown.split())
    assert result == {"Result": "success", "ExecMainStatus": "0"}, shown
    deadline = time.monotonic() + 30
    while True:
        inode, samples = _prom(host)
        if samples.get(CASES_ROWS) == expected_cases or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert samples.get(CASES_ROWS) == expected_cases, samples.get(CASES_ROWS)
    # written anew (write-then-rename gives the file a new inode), not left as it was
    assert inode != before_inode
    assert samples['duckdb_up{database="forensics",path="/var/lib/duckdb/forensics.duckdb"}'] == 1
    return inode


def test_metrics_timer_refreshes_the_file(host):
    timer = host.service("duckdb-metrics.timer")
    assert timer.is_running and timer.is_enabled
    assert host.run("systemctl show -p Triggers --value duckdb-metrics.timer").stdout.split() == \
        ["duckdb-metrics.service"]
    # The service writes the file only when its content changes: change the database so that a
    # run that really happens must rewrite it, with the new row count.
    inode, samples = _prom(host)
    cases = samples[CASES_ROWS]
    marker = ("INSERT INTO forensics.forensics.cases (case_id, case_number, title, opened_at, budget) "
              "VALUES (-3, 'X-metrics', 't', now(), 5) RETURNING case_id")
    out = _query(host, marker, read_only=False)
    assert out.rc == 0 and json.loads(out.stdout) == [[-3]], out.stderr
    try:
        inode = _run_metrics_service(host, cases + 1, inode)
    finally:
        out = _query(host, "DELETE FROM forensics.forensics.cases WHERE case_id = -3 RETURNING case_id",
                     read_only=False)
        assert out.rc == 0 and json.loads(out.stdout) == [[-3]], out.stderr
    # and back: the next run reports the row gone (leaves the file as the other tests expect it)
    _run_metrics_service(host, cases, inode)
