# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark groundwork.platform.duckdb_load's batch path against row-by-row inserts.

    .venv/bin/python benchmarks/duckdb_load.py [--sizes 1000,10000,100000,1000000]
        [--repeat 3] [--naive-max-rows 100000] [--naive-cap-seconds 10] [--workdir DIR] [--json OUT]

What it measures, side by side in one run (median of --repeat runs each):

* batch: the duckdb_load module itself (run in-process through AnsibleModule, as
  Ansible runs it on a host) loading the lab's ``forensics.events`` table (UUID
  primary key, index on case_id, ENUM/JSON/LIST columns) from CSV, Parquet and
  JSON files of 1K, 10K, 100K and 1M rows into a fresh database.  Three rates:
  ``insert`` = rows / seconds in the INSERT ... SELECT FROM read_*() statement
  (the module's insert_rows_per_second), ``durable`` = rows / seconds from
  BEGIN to COMMIT + CHECKPOINT (the module's rows_per_second) and ``task`` =
  rows / wall time of the whole module call (argument parsing, SHA-256 of the
  file, column sniffing, transaction, checkpoint).
* naive: the same rows inserted one by one with ``executemany`` of a
  parameterised ``INSERT INTO ... VALUES (CAST(? AS type), ...)`` into the same
  table, from rows already in Python memory (the CSV parse is not counted).
  It is bounded: only sizes up to --naive-max-rows are measured, and each run
  stops after --naive-cap-seconds; the rate is rows inserted / time taken.
* schema validation: parsing + validating the three-table spec (pure code),
  canonicalising it in a scratch DuckDB, a no-op duckdb_table run per table,
  and duckdb_validate with the spec's data checks on the largest events table.

Data comes from roles/duckdb/files/generate_forensics.py (seed 42).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import pathlib
import platform
import shutil
import statistics
import sys
import tempfile
import time
from unittest import mock

ROOT = pathlib.Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / "build" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "groundwork" / "platform"
if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    LINK.symlink_to(ROOT)
sys.path.insert(0, str(COLLECTIONS))

import duckdb  # noqa: E402
import yaml  # noqa: E402
from ansible.module_utils import basic  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.groundwork.platform.plugins.module_utils import _duckdb_common as common  # noqa: E402
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_spec import (  # noqa: E402
    parse_table_spec,
    plan_table,
)
from ansible_collections.groundwork.platform.plugins.modules import (  # noqa: E402
    duckdb_database,
    duckdb_load,
    duckdb_table,
    duckdb_validate,
)

FILES = ROOT / "roles" / "duckdb" / "files"
TABLE_KEYS = ("name", "schema", "columns", "primary_key", "unique", "check_constraints", "indexes")


class _Done(Exception):
    pass


def run_module(module, params):
    """Run a module's main() in-process; returns its result dict."""
    out = {}

    def _exit(self, **kw):
        out.update(kw)
        raise _Done()

    def _fail(self, msg, **kw):
        out.update(kw, failed=True, msg=msg)
        raise _Done()

    with patch_module_args(dict(params, _ansible_check_mode=False, _ansible_diff=False)), \
            mock.patch.object(basic.AnsibleModule, "exit_json", _exit), \
            mock.patch.object(basic.AnsibleModule, "fail_json", _fail), \
            mock.patch.object(basic.AnsibleModule, "warn", lambda self, w: None):
        try:
            module.main()
        except _Done:
            pass
    if out.get("failed"):
        raise RuntimeError("%s failed: %s" % (module.__name__, out["msg"]))
    return out


def load_generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_forensics", FILES / "generate_forensics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def spec_tables():
    return yaml.safe_load((FILES / "forensics_spec.yml").read_text())["tables"]


def table_params(table, database):
    params = dict((k, copy.deepcopy(table[k])) for k in TABLE_KEYS if k in table)
    params["database"] = database
    return params


def prepare_data(workdir, sizes):
    """Generate the largest events set once, then cut the smaller sizes from it."""
    gen = load_generator()
    biggest = max(sizes)
    source = workdir / "source"
    if not (source / "events.csv").exists():
        print("generating %d events (seed 42) ..." % biggest, file=sys.stderr)
        gen.generate(str(source), seed=42, events=biggest, formats=("csv",))
    types = "{" + ", ".join("'%s': '%s'" % (k, v.replace("'", "''")) for k, v in gen.TYPES["events"].items()) + "}"
    files = {}
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    try:
        for n in sizes:
            for fmt in ("csv", "parquet", "json"):
                dest = workdir / ("events_%d.%s" % (n, fmt))
                if not dest.exists():
                    options = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet, COMPRESSION zstd",
                               "json": "FORMAT json"}[fmt]
                    conn.execute("COPY (SELECT * FROM read_csv(?, header = true, types = %s) LIMIT %d) TO '%s' (%s)"
                                 % (types, n, str(dest).replace("'", "''"), options), [str(source / "events.csv")])
                files[(n, fmt)] = dest
    finally:
        conn.close()
    return files


def fresh_database(path):
    for p in (path, path + ".wal"):
        if os.path.exists(p):
            os.unlink(p)
    run_module(duckdb_database, {"database": path})
    events = [t for t in spec_tables() if t["name"] == "events"][0]
    run_module(duckdb_table, table_params(events, path))


def bench_batch(workdir, files, n, fmt):
    path = str(workdir / "bench.duckdb")
    fresh_database(path)
    started = time.perf_counter()
    result = run_module(duckdb_load, {"database": path, "schema": "forensics", "table": "events",
                                      "src": [str(files[(n, fmt)])]})
    wall = time.perf_counter() - started
    assert result["rows_loaded"] == n, result
    return {"insert_seconds": result["insert_seconds"], "durable_seconds": result["seconds"],
            "task_seconds": wall, "checksum_seconds": result["checksum_seconds"]}


def _naive_rows(csv_path, limit):
    rows = []
    with open(csv_path, newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            rows.append(tuple(v if v != "" else None for v in row))
            if len(rows) >= limit:
                break
    return rows


def bench_naive(workdir, files, n, cap_seconds, chunk=500):
    path = str(workdir / "naive.duckdb")
    fresh_database(path)
    rows = _naive_rows(files[(n, "csv")], n)
    conn = common.connect(path)
    try:
        cols = conn.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'forensics' "
                            "AND table_name = 'events' ORDER BY column_index").fetchall()
        sql = 'INSERT INTO "forensics"."events" VALUES (%s)' % ", ".join("CAST(? AS %s)" % t for _c, t in cols)
        done = 0
        started = time.perf_counter()
        conn.execute("BEGIN TRANSACTION")
        while done < len(rows):
            conn.executemany(sql, rows[done:done + chunk])
            done += len(rows[done:done + chunk])
            if time.perf_counter() - started > cap_seconds:
                break
        conn.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    return {"rows": done, "seconds": seconds, "capped": done < len(rows)}


def bench_schema(workdir, biggest, repeat):
    tables = spec_tables()
    out = {}
    # pure: parse + validate the three table specs and plan against themselves
    timings = []
    for _ in range(max(repeat, 5)):
        t0 = time.perf_counter()
        for _i in range(100):
            for table in tables:
                parse_table_spec(table, ignore_keys=("source", "checks"))
        timings.append((time.perf_counter() - t0) / 100)
    out["parse_spec_ms"] = statistics.median(timings) * 1000
    # canonicalise in a scratch DuckDB (what duckdb_table does before touching the file)
    parsed = [parse_table_spec(t, ignore_keys=("source", "checks")) for t in tables]
    timings = []
    states = None
    for _ in range(max(repeat, 5)):
        t0 = time.perf_counter()
        states = [common.desired_state(p) for p in parsed]
        timings.append(time.perf_counter() - t0)
    out["scratch_canonicalise_ms"] = statistics.median(timings) * 1000
    t0 = time.perf_counter()
    for _i in range(1000):
        for state in states:
            plan_table(state, state)
    out["plan_ms"] = (time.perf_counter() - t0) / 1000 * 1000
    # full no-op duckdb_table runs (converged database)
    path = str(workdir / "schema.duckdb")
    fresh_database(path)
    for table in tables:
        run_module(duckdb_table, table_params(table, path))
    timings = []
    for _ in range(max(repeat, 5)):
        t0 = time.perf_counter()
        for table in tables:
            assert not run_module(duckdb_table, table_params(table, path))["changed"]
        timings.append(time.perf_counter() - t0)
    out["noop_duckdb_table_3_tables_ms"] = statistics.median(timings) * 1000
    # data validation with the spec's checks on the biggest events table (loaded from Parquet)
    vpath = str(workdir / "validate.duckdb")
    fresh_database(vpath)
    run_module(duckdb_load, {"database": vpath, "schema": "forensics", "table": "events",
                             "src": [str(workdir / ("events_%d.parquet" % biggest))]})
    events = [t for t in tables if t["name"] == "events"][0]
    timings = []
    checks = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run_module(duckdb_validate, {"database": vpath, "schema": "forensics", "table": "events",
                                              "columns": events["columns"], "checks": events["checks"],
                                              "fail_on_error": False})
        timings.append(time.perf_counter() - t0)
        checks = len(result["report"])
        assert result["passed"], result["failed_checks"]
    out["validate_rows"] = biggest
    out["validate_checks"] = checks
    out["validate_seconds"] = statistics.median(timings)
    return out


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = common.host_resources()["mem_total_bytes"]
    return {"cpu": model, "cores": len(os.sched_getaffinity(0)), "memory_gib": round(mem / 1024 ** 3, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__, "os": platform.platform()}


def fmt_rate(value):
    return "-" if value is None else "{:,.0f}".format(value)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-max-rows", type=int, default=100000)
    parser.add_argument("--naive-cap-seconds", type=float, default=10.0)
    parser.add_argument("--workdir", help="keep generated files here (default: a temporary directory)")
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="duckdb-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        files = prepare_data(workdir, sizes)
        results = {"machine": machine(), "repeat": args.repeat, "naive_max_rows": args.naive_max_rows,
                   "naive_cap_seconds": args.naive_cap_seconds, "loads": []}
        for n in sizes:
            row = {"rows": n}
            for fmt in ("parquet", "csv", "json"):
                runs = [bench_batch(workdir, files, n, fmt) for _ in range(args.repeat)]
                insert = statistics.median(r["insert_seconds"] for r in runs)
                durable = statistics.median(r["durable_seconds"] for r in runs)
                task = statistics.median(r["task_seconds"] for r in runs)
                row[fmt] = {"insert_seconds": insert, "durable_seconds": durable, "task_seconds": task,
                            "insert_rows_per_second": n / insert, "durable_rows_per_second": n / durable,
                            "task_rows_per_second": n / task,
                            "checksum_seconds": statistics.median(r["checksum_seconds"] for r in runs)}
                print("batch %-7s %8d rows: insert %s, durable %s, task %s rows/s" % (
                    fmt, n, fmt_rate(n / insert), fmt_rate(n / durable), fmt_rate(n / task)), file=sys.stderr)
            if n <= args.naive_max_rows:
                runs = [bench_naive(workdir, files, n, args.naive_cap_seconds) for _ in range(args.repeat)]
                rates = [r["rows"] / r["seconds"] for r in runs]
                row["naive"] = {"rows_per_second": statistics.median(rates),
                                "rows_measured": int(statistics.median(r["rows"] for r in runs)),
                                "capped": any(r["capped"] for r in runs)}
                print("naive          %8d rows: %s rows/s (%d rows measured%s)" % (
                    n, fmt_rate(row["naive"]["rows_per_second"]), row["naive"]["rows_measured"],
                    ", time-capped" if row["naive"]["capped"] else ""), file=sys.stderr)
            results["loads"].append(row)
        results["schema"] = bench_schema(workdir, max(sizes), args.repeat)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    print(render_markdown(results))
    return 0


def render_markdown(results):
    m = results["machine"]
    lines = [
        "Machine: %s, %d cores (shared with other work), %.1f GiB RAM; Python %s, DuckDB %s. "
        "Median of %d runs." % (m["cpu"], m["cores"], m["memory_gib"], m["python"], m["duckdb"], results["repeat"]),
        "",
        "Rows per second loading `forensics.events` (UUID primary key, index on case_id, CHECK "
        "constraints, ENUM/JSON/LIST columns) into a fresh database:",
        "",
        "| rows | format | INSERT only | durable (module's `rows_per_second`) | whole task "
        "| naive executemany | durable / naive |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in results["loads"]:
        naive = row.get("naive")
        naive_text = "not measured (> {:,} rows)".format(results["naive_max_rows"])
        if naive:
            naive_text = fmt_rate(naive["rows_per_second"])
            if naive["capped"]:
                naive_text += " (first {:,} rows, {:.0f} s cap)".format(naive["rows_measured"],
                                                                         results["naive_cap_seconds"])
        for fmt, label in (("parquet", "Parquet"), ("csv", "CSV"), ("json", "JSON")):
            r = row[fmt]
            ratio = "-"
            if naive:
                ratio = "{:,.0f}x".format(r["durable_rows_per_second"] / naive["rows_per_second"])
            lines.append("| {:,} | {} | {} | {} | {} | {} | {} |".format(
                row["rows"], label, fmt_rate(r["insert_rows_per_second"]), fmt_rate(r["durable_rows_per_second"]),
                fmt_rate(r["task_rows_per_second"]), naive_text if fmt == "parquet" else "″", ratio))
    s = results["schema"]
    lines += [
        "",
        "*INSERT only*: the `INSERT ... BY NAME SELECT ... FROM read_*(file)` statement; *durable*: from "
        "BEGIN to COMMIT plus CHECKPOINT, i.e. until the rows are in the database file; *whole task*: the "
        "module call end to end (arguments, SHA-256 of the file, column sniffing, transaction, checkpoint). "
        "*naive*: one `executemany` INSERT per row of the same rows from Python memory, same table, one "
        "transaction, measured only up to {:,} rows and stopped after {:.0f} s per run.".format(
            results["naive_max_rows"], results["naive_cap_seconds"]),
        "",
        "| schema validation step | cost |",
        "|---|---:|",
        "| parse + validate the 3-table spec (pure Python) | {:.2f} ms |".format(s["parse_spec_ms"]),
        "| canonicalise the 3 tables in a scratch in-memory DuckDB | {:.0f} ms |".format(s["scratch_canonicalise_ms"]),
        "| plan (diff) the 3 tables, pure Python | {:.2f} ms |".format(s["plan_ms"]),
        "| no-op `duckdb_table` runs for the 3 tables (converged database, in-process) | {:.0f} ms |".format(
            s["noop_duckdb_table_3_tables_ms"]),
        "| `duckdb_validate` of events ({:,} rows, {} checks incl. the column spec) | {:.2f} s |".format(
            s["validate_rows"], s["validate_checks"], s["validate_seconds"]),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
