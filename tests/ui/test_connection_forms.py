"""Every connection type of the package, as the Airflow 3 connection form receives it from the API server.

The browser test looks at the ``mainframe`` form; this checks all types through the endpoint the form is built
from (``/ui/connections/hook_meta``), so a new type cannot ship with a form that lies or shows raw keys.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_zaloni.get_provider_info import get_provider_info

TYPES = {t["connection-type"]: t for t in get_provider_info()["connection-types"]}
STANDARD = {"schema": "url_schema", "host": "host", "port": "port", "login": "login", "password": "password"}


@pytest.fixture(scope="module")
def hook_meta(airflow_db: Any) -> Iterator[dict[str, dict[str, Any]]]:
    import os

    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    previous = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS")
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
    try:
        with TestClient(create_app(), base_url="http://127.0.0.1") as client:
            answer = client.get("/ui/connections/hook_meta")
            assert answer.status_code == 200, answer.text
            yield {m["connection_type"]: m for m in answer.json()}
    finally:
        if previous is None:
            os.environ.pop("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", None)
        else:
            os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = previous


@pytest.mark.timeout(120)
@pytest.mark.parametrize("conn_type", sorted(TYPES))
def test_the_form_of_each_connection_type(hook_meta: dict[str, dict[str, Any]], conn_type: str) -> None:
    info = TYPES[conn_type]
    assert "_" not in conn_type  # an RFC 3986 scheme
    meta = hook_meta[conn_type]
    assert meta["hook_name"] == info["hook-name"]
    assert meta["hook_class_name"] == info["hook-class-name"]

    behaviour = info["ui-field-behaviour"]
    standard = meta["standard_fields"]
    for field in behaviour["hidden-fields"]:
        if field in STANDARD:
            assert standard[STANDARD[field]]["hidden"], f"{conn_type}: {field} should be hidden"
    for field, title in behaviour["relabeling"].items():
        assert standard[STANDARD[field]]["title"] == title
    for field, placeholder in behaviour["placeholders"].items():
        assert standard[STANDARD[field]]["placeholder"] == placeholder
    for field in behaviour["relabeling"].keys() | behaviour["placeholders"].keys():
        assert field not in behaviour["hidden-fields"], f"{conn_type}: {field} is hidden yet labelled"

    module_source = inspect.getsource(importlib.import_module(info["hook-class-name"].rsplit(".", 1)[0]))
    extra = meta["extra_fields"]
    assert set(extra) == set(info["conn-fields"])
    for name, field in extra.items():
        schema = field["schema"]
        where = f"{conn_type}.{name}"
        assert schema.get("title") and schema["title"] != name, f"{where}: no label"
        assert None not in schema.get("enum", []), f"{where}: the select would offer 'null'"
        if "boolean" in schema["type"]:
            # Without a default the switch shows "off", whatever the hook does when the key is absent.
            assert isinstance(field["value"], bool), f"{where}: a switch needs the hook's default"
        assert f'"{name}"' in module_source, f"{where}: the hook never reads this field"
