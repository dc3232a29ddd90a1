#!/usr/bin/env bash
# Check the nvidia-smi parser (plugins/module_utils/_nvidia_smi.py) against a real GPU.
# Run on a machine with an NVIDIA GPU and driver: bash scripts/gpu-check.sh [OUTDIR]
# Records nvidia-smi's raw output under OUTDIR (default build/gpu-check), parses it with
# the collection's parser, prints the result, cross-checks the CSV and XML readings and
# exits non-zero when parsing fails or they disagree. The recorded files can be added as
# unit-test fixtures (tests/unit/plugins/module_utils/fixtures/nvidia_smi/).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/build/gpu-check}"
mkdir -p "$OUT"
command -v nvidia-smi >/dev/null || { echo "nvidia-smi not found: not a GPU machine" >&2; exit 2; }
FIELDS=$(python3 -c "import importlib.util as u; s=u.spec_from_file_location('m','$ROOT/plugins/module_utils/_nvidia_smi.py'); m=u.module_from_spec(s); s.loader.exec_module(m); print(m.QUERY_ARG)")
nvidia-smi --query-gpu="$FIELDS" --format=csv,noheader,nounits >"$OUT/query.csv"
nvidia-smi --query-gpu="$FIELDS" --format=csv >"$OUT/query_header_units.csv"
nvidia-smi -q -x >"$OUT/q.xml"
nvidia-smi >"$OUT/nvidia-smi.txt" || true
python3 - "$ROOT" "$OUT" <<'PY'
import importlib.util, json, sys
root, out = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("nvidia_smi", root + "/plugins/module_utils/_nvidia_smi.py")
smi = importlib.util.module_from_spec(spec); spec.loader.exec_module(smi)
csv_gpus = smi.parse_query_csv(open(out + "/query.csv").read())
hdr_gpus = smi.parse_query_csv(open(out + "/query_header_units.csv").read())
xml = smi.parse_xml(open(out + "/q.xml").read())
pci = smi.find_pci_gpus()
print(json.dumps({"summary": smi.summarize(pci, "nvidia-smi", csv_gpus), "xml": xml}, indent=2))
problems = []
if not csv_gpus:
    problems.append("no GPU parsed from the CSV query")
if len(csv_gpus) != len(xml["gpus"]) or len(csv_gpus) != len(hdr_gpus):
    problems.append("GPU count differs: csv %d, csv+header %d, xml %d" % (len(csv_gpus), len(hdr_gpus), len(xml["gpus"])))
for c, h, x in zip(csv_gpus, hdr_gpus, xml["gpus"]):
    for key in ("uuid", "name", "pci_bus_id", "memory_total_mib", "ecc_mode"):
        if not (c.get(key) == h.get(key) == x.get(key)):
            problems.append("GPU %s: %s differs: csv %r, csv+header %r, xml %r" % (c.get("index"), key, c.get(key), h.get(key), x.get(key)))
    for key in ("temperature_celsius", "memory_used_mib"):
        if None in (c.get(key), x.get(key)):
            problems.append("GPU %s: %s missing" % (c.get("index"), key))
    if c.get("memory_total_mib") is None:
        problems.append("GPU %s: memory_total_mib missing" % c.get("index"))
print("\n".join(["PROBLEM: " + p for p in problems]) or "OK: %d GPU(s) parsed the same from CSV, CSV with header and XML" % len(csv_gpus))
sys.exit(1 if problems else 0)
PY
