"""House rules every role keeps: prefixed variables, argument specs that match the defaults, a README."""

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "roles").iterdir() if p.is_dir())


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_defaults_are_prefixed_and_match_the_argument_spec(role):
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(defaults) == set(spec)
    for name, value in defaults.items():
        assert name.startswith(role.name + "_"), name
        assert "description" in spec[name], name
        if "{{" not in str(value):
            assert spec[name].get("default") == value, name


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_internal_variables_are_double_underscore_prefixed(role):
    variables = role / "vars" / "main.yml"
    if variables.exists():
        for name in yaml.safe_load(variables.read_text()) or {}:
            assert name.startswith("__%s_" % role.name), name


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_readme_names_every_variable(role):
    readme = (role / "README.md").read_text()
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    for name in defaults:
        assert "`%s`" % name in readme, name
