"""The package registers as an Airflow provider: what `pip install` users see in `airflow providers ...`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_zaloni.get_provider_info import get_provider_info

BIN = Path(sys.executable).parent


def test_provider_info_is_valid_against_airflows_schema() -> None:
    import importlib.resources

    import jsonschema

    schema = json.loads((importlib.resources.files("airflow") / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-zaloni"
    for conn in info["connection-types"]:
        assert "_" not in conn["connection-type"], conn["connection-type"]
        assert conn.get("hook-name") and ("conn-fields" in conn or "ui-field-behaviour" in conn)


def test_every_listed_class_imports() -> None:
    import importlib

    info = get_provider_info()
    for conn in info["connection-types"]:
        module, _, name = conn["hook-class-name"].rpartition(".")
        assert hasattr(importlib.import_module(module), name), conn["hook-class-name"]
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(kind, []):
            for module in entry.get("python-modules", []):
                importlib.import_module(module)
    for link in info.get("extra-links", []):
        module, _, name = link.rpartition(".")
        assert hasattr(importlib.import_module(module), name), link


def test_public_names_import_from_the_package_namespaces() -> None:
    import airflow_zaloni.hooks as hooks
    import airflow_zaloni.operators as operators
    import airflow_zaloni.sensors as sensors

    for namespace in (hooks, operators, sensors):
        for name in namespace.__all__:
            assert getattr(namespace, name).__name__ == name


@pytest.mark.timeout(180)
def test_airflow_cli_lists_the_provider_and_its_connection_types(airflow_home: Path) -> None:
    # a plain user's environment: without the unit-test mode that prints a log line on stdout
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__UNIT_TEST_MODE"}
    listed = subprocess.run(
        [str(BIN / "airflow"), "providers", "list", "-o", "json"], capture_output=True, text=True, env=env
    )
    assert listed.returncode == 0, listed.stderr
    assert any(p["package_name"] == "airflow-zaloni" for p in json.loads(listed.stdout))
    hooks = subprocess.run(
        [str(BIN / "airflow"), "providers", "hooks", "-o", "json"], capture_output=True, text=True, env=env
    )
    assert hooks.returncode == 0, hooks.stderr
    ours = {h["connection_type"] for h in json.loads(hooks.stdout) if h["package_name"] == "airflow-zaloni"}
    expected = {c["connection-type"] for c in get_provider_info()["connection-types"]}
    assert expected <= ours
    assert "mainframe" in ours
