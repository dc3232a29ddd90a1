#!/usr/bin/env python3
"""Render the prometheus role's rule templates the way the role does (variables between
[[ ]]), with the role's defaults plus tests/promtool/vars.yml, into OUTDIR (default
build/promtool/rules), so that `promtool check rules` and `promtool test rules` run on
exactly what the role installs."""
import pathlib
import sys

import jinja2
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "prometheus"


def variables():
    values = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    values.update(yaml.safe_load((ROOT / "tests" / "promtool" / "vars.yml").read_text()) or {})
    values["_prometheus_t"] = dict(values["prometheus_alert_thresholds"], **values["prometheus_alert_threshold_overrides"])
    values["ansible_managed"] = "rendered by tests/promtool/render.py"
    return values


def render(outdir):
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROLE / "templates" / "rules")),
        variable_start_string="[[", variable_end_string="]]",
        trim_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    # Ansible's bool filter, which the templates use on switches
    env.filters["bool"] = lambda v: v if isinstance(v, bool) else str(v).strip().lower() in ("yes", "on", "1", "true", "y")
    outdir.mkdir(parents=True, exist_ok=True)
    values = variables()
    names = []
    for template in sorted((ROLE / "templates" / "rules").glob("*.rules.yml.j2")):
        target = outdir / template.name[:-3]
        target.write_text(env.get_template(template.name).render(**values))
        names.append(str(target))
    return names


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "promtool" / "rules"
    print("\n".join(render(out)))
