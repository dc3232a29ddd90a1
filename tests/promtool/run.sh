#!/usr/bin/env bash
# Rule checks and unit tests for the prometheus role's rules:
#   render the rule templates with the role's defaults (+ tests/promtool/vars.yml),
#   `promtool check rules` every file, then `promtool test rules tests/promtool/*_test.yml`.
# Needs promtool: `apt-get install -y --no-install-recommends prometheus` (Debian) on the
# controller; PROMTOOL=/path/to/promtool to use another one. Missing promtool is a failure.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PROMTOOL="${PROMTOOL:-promtool}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"; [ -x "$PY" ] || PY=python3
command -v "$PROMTOOL" >/dev/null || { echo "promtool not found: apt-get install -y --no-install-recommends prometheus" >&2; exit 1; }
"$PROMTOOL" --version 2>&1 | head -n1
"$PY" "$ROOT/tests/promtool/render.py" "$ROOT/build/promtool/rules" >/dev/null
"$PROMTOOL" check rules "$ROOT"/build/promtool/rules/*.rules.yml
"$PROMTOOL" test rules "$ROOT"/tests/promtool/*_test.yml
