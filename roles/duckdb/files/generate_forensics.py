# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate a deterministic forensic-style lab data set: cases, evidence items, events.

    generate_forensics.py --output DIR [--seed 42] [--size small] [--events N]
                          [--formats csv,parquet,json]

Writes DIR/cases.<fmt>, DIR/evidence.<fmt>, DIR/events.<fmt> for each format and
DIR/manifest.json (row counts, seed, size, files with their SHA-256).  The same
seed and size always give byte-identical CSV and JSON files (Parquet files hold
the same rows; their bytes may differ between DuckDB versions).

The columns match roles/duckdb/files/forensics_spec.yml:

* cases: one row per investigation (status and priority enums, lead
  investigator struct, budget decimal, tags list, timestamps with time zone);
* evidence: items seized for a case (UUID keys, SHA-256 hashes, sizes,
  custody chain as a list of structs, JSON attributes);
* events: timeline entries extracted from the evidence (source and severity,
  host/user/IP, JSON details, tags).

CSV is written with the standard library; Parquet and JSON need the duckdb
Python package, which converts the CSV with the table's exact column types.
Sizes: tiny (1,000 events), small (10,000), medium (100,000), large (1,000,000);
--events overrides the size.  Cases and evidence scale with the events
(1 case per 100 events, 1 evidence item per 10 events, at least 5 and 20).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import json
import os
import random
import sys
import uuid

SIZES = {"tiny": 1000, "small": 10000, "medium": 100000, "large": 1000000}
FORMATS = ("csv", "parquet", "json")

CASE_STATUS = ("open", "investigating", "closed", "archived")
PRIORITY = ("low", "medium", "high", "critical")
EVIDENCE_KIND = ("disk_image", "memory_dump", "mobile_device", "log_bundle", "network_capture", "document")
EVENT_SOURCE = ("edr", "firewall", "proxy", "dns", "mail", "auth", "filesystem")
EVENT_TYPES = {
    "edr": ("process_start", "process_injection", "driver_load", "script_exec"),
    "firewall": ("conn_allowed", "conn_blocked", "port_scan"),
    "proxy": ("http_request", "tls_handshake", "download"),
    "dns": ("query", "nxdomain", "tunnel_suspected"),
    "mail": ("received", "attachment_opened", "phish_reported"),
    "auth": ("login_success", "login_failure", "mfa_denied", "privilege_escalation"),
    "filesystem": ("file_create", "file_write", "file_delete", "archive_created"),
}
TAGS = ("ransomware", "insider", "phishing", "exfiltration", "lateral-movement", "persistence",
        "credential-theft", "malware", "fraud", "policy-violation")
FIRST = ("Ada", "Ben", "Chiara", "Dmitri", "Eva", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kemal", "Lena")
LAST = ("Novak", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka", "Umarov", "Varga", "Weber")
HOSTS = ("ws-%03d" % i for i in range(1, 301))
HOST_LIST = tuple(HOSTS) + ("srv-dc01", "srv-file02", "srv-mail01", "srv-web03", "fw-edge01")
TITLES = ("Suspicious outbound transfer", "Compromised mailbox", "Ransomware outbreak", "Expense fraud",
          "Unauthorised access to HR share", "Malware on finance laptop", "Leaked design documents",
          "Brute force on VPN", "Rogue admin account", "Phishing campaign")
EPOCH = datetime.datetime(2023, 1, 1, tzinfo=datetime.timezone.utc)
SPAN_SECONDS = 2 * 365 * 24 * 3600

# DuckDB types of the CSV columns, used to convert CSV to Parquet/JSON
TYPES = {
    "cases": {
        "case_id": "INTEGER", "case_number": "VARCHAR", "title": "VARCHAR",
        "status": "ENUM('open', 'investigating', 'closed', 'archived')",
        "priority": "ENUM('low', 'medium', 'high', 'critical')",
        "opened_at": "TIMESTAMPTZ", "closed_at": "TIMESTAMPTZ",
        "lead_investigator": "STRUCT(\"name\" VARCHAR, badge INTEGER)",
        "budget": "DECIMAL(12,2)", "tags": "VARCHAR[]",
    },
    "evidence": {
        "evidence_id": "UUID", "case_id": "INTEGER", "item_no": "INTEGER",
        "kind": "ENUM('disk_image', 'memory_dump', 'mobile_device', 'log_bundle', 'network_capture', 'document')",
        "description": "VARCHAR", "sha256": "VARCHAR", "size_bytes": "BIGINT",
        "collected_at": "TIMESTAMPTZ", "collected_by": "VARCHAR",
        "custody": "STRUCT(holder VARCHAR, \"action\" VARCHAR, \"at\" TIMESTAMPTZ)[]",
        "attributes": "JSON",
    },
    "events": {
        "event_id": "UUID", "case_id": "INTEGER", "evidence_id": "UUID", "occurred_at": "TIMESTAMPTZ",
        "source": "ENUM('edr', 'firewall', 'proxy', 'dns', 'mail', 'auth', 'filesystem')",
        "event_type": "VARCHAR", "severity": "TINYINT", "host": "VARCHAR", "username": "VARCHAR",
        "src_ip": "VARCHAR", "dst_port": "INTEGER", "sha256": "VARCHAR", "bytes": "BIGINT",
        "details": "JSON", "tags": "VARCHAR[]",
    },
}


def _ts(seconds):
    return (EPOCH + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S+00")


def _uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _quote_item(text):
    # DuckDB's text form of a list/struct value: strings in single quotes
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _list(items):
    return "[" + ", ".join(_quote_item(i) for i in items) + "]"


def _name(rng):
    return "%s %s" % (rng.choice(FIRST), rng.choice(LAST))


def counts_for(events):
    return {"cases": max(5, events // 100), "evidence": max(20, events // 10), "events": events}


def generate_cases(rng, n):
    for case_id in range(1, n + 1):
        opened = rng.randrange(SPAN_SECONDS - 30 * 24 * 3600)
        status = rng.choices(CASE_STATUS, weights=(3, 4, 5, 2))[0]
        closed = None
        if status in ("closed", "archived"):
            closed = opened + rng.randrange(3600, 120 * 24 * 3600)
        lead = "{'name': %s, 'badge': %d}" % (_quote_item(_name(rng)), rng.randrange(1000, 9999))
        yield {
            "case_id": case_id,
            "case_number": "CASE-%d-%05d" % (2023 + opened // (365 * 24 * 3600), case_id),
            "title": rng.choice(TITLES),
            "status": status,
            "priority": rng.choices(PRIORITY, weights=(3, 5, 3, 1))[0],
            "opened_at": _ts(opened),
            "closed_at": _ts(closed) if closed is not None else "",
            "lead_investigator": lead,
            "budget": "%d.%02d" % (rng.randrange(500, 250000), rng.randrange(100)),
            "tags": _list(sorted(rng.sample(TAGS, rng.randrange(0, 4)))),
        }, opened


def generate_evidence(rng, n, case_opened):
    items_per_case = {}
    case_ids = sorted(case_opened)
    for _item in range(n):
        case_id = rng.choice(case_ids)
        items_per_case[case_id] = items_per_case.get(case_id, 0) + 1
        collected = case_opened[case_id] + rng.randrange(0, 14 * 24 * 3600)
        kind = rng.choice(EVIDENCE_KIND)
        collector = _name(rng)
        custody = [(collector, "seized", collected)]
        at = collected
        for _hop in range(rng.randrange(0, 3)):
            at += rng.randrange(600, 5 * 24 * 3600)
            custody.append((_name(rng), rng.choice(("transferred", "imaged", "analysed", "stored")), at))
        custody_text = "[" + ", ".join(
            "{'holder': %s, 'action': %s, 'at': %s}" % (_quote_item(h), _quote_item(a), _quote_item(_ts(t)))
            for h, a, t in custody) + "]"
        attributes = {"acquisition_tool": rng.choice(("FTK Imager", "dd", "Cellebrite", "Velociraptor")),
                      "write_blocked": rng.random() < 0.9}
        if kind in ("disk_image", "memory_dump"):
            attributes["sectors"] = rng.randrange(10 ** 6, 10 ** 9)
        evidence_id = _uuid(rng)
        yield {
            "evidence_id": evidence_id,
            "case_id": case_id,
            "item_no": items_per_case[case_id],
            "kind": kind,
            "description": "%s from %s" % (kind.replace("_", " "), rng.choice(HOST_LIST)),
            "sha256": "%064x" % rng.getrandbits(256),
            "size_bytes": rng.randrange(10 ** 4, 2 * 10 ** 12),
            "collected_at": _ts(collected),
            "collected_by": collector,
            "custody": custody_text,
            "attributes": json.dumps(attributes, sort_keys=True),
        }, (evidence_id, case_id, collected)


def generate_events(rng, n, evidence):
    for _event in range(n):
        evidence_id, case_id, collected = rng.choice(evidence)
        source = rng.choice(EVENT_SOURCE)
        event_type = rng.choice(EVENT_TYPES[source])
        occurred = collected - rng.randrange(0, 30 * 24 * 3600)
        severity = rng.choices((1, 2, 3, 4, 5), weights=(30, 30, 20, 15, 5))[0]
        details = {"rule": "R%04d" % rng.randrange(1, 500), "confidence": round(rng.random(), 3)}
        if source == "proxy":
            site = rng.choice(("cdn", "files", "update", "login"))
            details["url"] = "https://%s.example/%d" % (site, rng.randrange(10 ** 6))
        if source == "auth":
            details["method"] = rng.choice(("password", "kerberos", "saml", "ssh-key"))
        yield {
            "event_id": _uuid(rng),
            "case_id": case_id,
            "evidence_id": evidence_id if rng.random() < 0.95 else "",
            "occurred_at": _ts(max(0, occurred)),
            "source": source,
            "event_type": event_type,
            "severity": severity,
            "host": rng.choice(HOST_LIST),
            "username": ("%s.%s" % (rng.choice(FIRST), rng.choice(LAST))).lower() if rng.random() < 0.7 else "",
            "src_ip": "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)),
            "dst_port": rng.choice((22, 53, 80, 443, 445, 3389, 8080)) if source in ("firewall", "proxy", "dns") else "",
            "sha256": "%064x" % rng.getrandbits(256) if source in ("edr", "filesystem", "mail") else "",
            "bytes": rng.randrange(0, 10 ** 8),
            "details": json.dumps(details, sort_keys=True),
            "tags": _list(sorted(rng.sample(TAGS, rng.choices((0, 1, 2), weights=(6, 3, 1))[0]))),
        }


def _write_csv(path, columns, rows):
    count = 0
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _convert(csv_path, table, fmt, dest):
    import duckdb

    types = "{" + ", ".join("'%s': '%s'" % (k, v.replace("'", "''")) for k, v in TYPES[table].items()) + "}"
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT json"
    conn = duckdb.connect()
    try:
        conn.execute("SET enable_progress_bar = false")  # it prints to stdout
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET preserve_insertion_order = true")
        conn.execute("COPY (SELECT * FROM read_csv(?, header = true, types = %s)) TO '%s' (%s)"
                     % (types, dest.replace("'", "''"), options), [csv_path])
    finally:
        conn.close()


def generate(output, seed=42, events=SIZES["small"], formats=FORMATS):
    """Write the data set; returns the manifest dict."""
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError("unknown format %r (expected %s)" % (fmt, ", ".join(FORMATS)))
    if events < 1:
        raise ValueError("events must be at least 1")
    os.makedirs(output, exist_ok=True)
    counts = counts_for(events)
    rng = random.Random(seed)
    case_opened = {}
    evidence_keys = []

    def cases():
        for row, opened in generate_cases(rng, counts["cases"]):
            case_opened[row["case_id"]] = opened
            yield row

    def evidence():
        for row, key in generate_evidence(rng, counts["evidence"], case_opened):
            evidence_keys.append(key)
            yield row

    csv_dir = output if "csv" in formats else os.path.join(output, ".csv-staging")
    os.makedirs(csv_dir, exist_ok=True)
    written = {}
    for table, rows in (("cases", cases), ("evidence", evidence),
                        ("events", lambda: generate_events(rng, counts["events"], evidence_keys))):
        path = os.path.join(csv_dir, table + ".csv")
        written[table] = _write_csv(path, list(TYPES[table]), rows())
        assert written[table] == counts[table]

    files = {}
    for table in TYPES:
        csv_path = os.path.join(csv_dir, table + ".csv")
        for fmt in formats:
            dest = os.path.join(output, "%s.%s" % (table, fmt))
            if fmt != "csv":
                _convert(csv_path, table, fmt, dest)
            files[os.path.basename(dest)] = {"table": table, "format": fmt, "rows": counts[table],
                                             "sha256": _sha256(dest), "bytes": os.path.getsize(dest)}
    if csv_dir != output:
        for table in TYPES:
            os.unlink(os.path.join(csv_dir, table + ".csv"))
        os.rmdir(csv_dir)

    manifest = {"generator": "groundwork.platform generate_forensics.py", "seed": seed,
                "events": events, "rows": counts, "formats": list(formats), "files": files}
    with open(os.path.join(output, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return manifest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="directory to write the files into")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--size", choices=sorted(SIZES, key=SIZES.get), default="small",
                        help="data set size (events: %s)" % ", ".join("%s=%d" % i for i in sorted(SIZES.items(), key=lambda i: i[1])))
    parser.add_argument("--events", type=int, help="number of events (overrides --size)")
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated: csv,parquet,json")
    args = parser.parse_args(argv)
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    try:
        manifest = generate(args.output, args.seed, args.events or SIZES[args.size], formats)
    except ImportError:
        sys.stderr.write("Parquet and JSON output need the duckdb Python package (or use --formats csv)\n")
        return 2
    except ValueError as exc:
        sys.stderr.write("%s\n" % exc)
        return 2
    print(json.dumps({"output": os.path.abspath(args.output), "rows": manifest["rows"],
                      "files": sorted(manifest["files"])}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
