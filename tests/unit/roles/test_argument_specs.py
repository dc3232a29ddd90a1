"""Every role's defaults and argument spec describe the same variables.

Docs must not drift from defaults: each key in defaults/main.yml is documented in
meta/argument_specs.yml (entry point `main`, or the entry point that uses it, such as _common's
`tls_certificate`), each option of `main` is a default or required, every option has a description and a type, and every variable is prefixed with
the role's name.
"""
import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROLES = sorted(p.parent.parent for p in ROOT.glob("roles/*/meta/argument_specs.yml"))


def _load(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def test_every_role_has_an_argument_spec():
    roles = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
    assert roles, "no roles found"
    missing = [r.name for r in roles if not (r / "meta" / "argument_specs.yml").is_file()]
    assert not missing, f"roles without meta/argument_specs.yml: {missing}"


def _all_options(role):
    options = {}
    for body in _load(role / "meta" / "argument_specs.yml")["argument_specs"].values():
        options.update(body.get("options", {}))
    return options


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_defaults_match_argument_spec(role):
    defaults = _load(role / "defaults" / "main.yml")
    spec = _load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    undocumented = set(defaults) - set(spec) - set(_all_options(role))
    assert not undocumented, f"{role.name}: defaults missing from argument_specs: {sorted(undocumented)}"
    no_default = [k for k, v in spec.items() if k not in defaults and not v.get("required")]
    assert not no_default, f"{role.name}: options neither defaulted nor required: {no_default}"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_options_are_prefixed_typed_and_described(role):
    for entry, body in _load(role / "meta" / "argument_specs.yml")["argument_specs"].items():
        for name, opt in body.get("options", {}).items():
            # (the internal role _common's options keep the common_ names they had in common)
            base = role.name.lstrip("_")
            assert name.startswith(base + "_") or name.startswith(base.split("_")[0] + "_"), (
                f"{role.name}:{entry}: option {name} is not prefixed with the role name"
            )
            assert opt.get("type"), f"{role.name}:{entry}: option {name} has no type"
            assert opt.get("description"), f"{role.name}:{entry}: option {name} has no description"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_spec_defaults_equal_role_defaults(role):
    defaults = _load(role / "defaults" / "main.yml")
    for name, opt in _all_options(role).items():
        if "default" in opt:
            assert defaults.get(name) == opt["default"], f"{role.name}: {name} default differs from defaults/main.yml"


def test_names_common_and_common_internal_both_default_agree():
    # _common's entry points run without the common role in the play, so a name both use (such
    # as common_private_address, the address every service binds to) has a default in each; a
    # host must get the same value whichever role's default applies.
    common = _load(ROOT / "roles" / "common" / "defaults" / "main.yml")
    internal = _load(ROOT / "roles" / "_common" / "defaults" / "main.yml")
    shared = sorted(set(common) & set(internal))
    assert "common_private_address" in shared
    differ = [name for name in shared if common[name] != internal[name]]
    assert not differ, f"common and _common give these different defaults: {differ}"
