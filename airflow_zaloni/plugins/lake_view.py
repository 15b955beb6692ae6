"""The "Lake" view: a page in the Airflow UI, served by the API server through this provider's plugin.

The plugin mounts a small FastAPI app at ``/zaloni`` (``/zaloni/lake`` the page, ``/zaloni/api/datasets`` the same
data as JSON) and adds a "Lake" entry (with its icon, ``/zaloni/static/lake.svg``) to the navigation that shows the
page inside the UI. Both endpoints need a user allowed to read assets (the Airflow login's token, from the header
or the UI's cookie); the icon needs no login.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response

from airflow_zaloni import config
from airflow_zaloni.lake import Lake, LakeError
from airflow_zaloni.lake.catalog import catalog
from airflow_zaloni.plugins import lake_page

try:
    from airflow.plugins_manager import AirflowPlugin
except ImportError:  # pragma: no cover - only without Airflow
    AirflowPlugin = object  # type: ignore[assignment,misc]


def _access_dependencies() -> list[Any]:
    try:
        from airflow.api_fastapi.core_api.security import requires_access_asset
    except ImportError:  # pragma: no cover - older API servers: no auth hook to use
        return []
    return [Depends(requires_access_asset(method="GET"))]


def _read() -> tuple[str, list[Any], str]:
    root = config.lake_root()
    try:
        return root, catalog(Lake(root)), ""
    except (LakeError, OSError) as exc:
        return root, [], f"cannot read the lake at {root}: {exc}"


def create_app() -> FastAPI:
    app = FastAPI(title="Zaloni lake", description="Datasets of the Zaloni lake, read from their manifests.")
    dependencies = _access_dependencies()

    @app.get("/lake", response_class=HTMLResponse, dependencies=dependencies)
    def lake_html() -> HTMLResponse:
        root, datasets, error = _read()
        return HTMLResponse(lake_page.render(root, datasets, error=error))

    @app.get("/api/datasets", dependencies=dependencies)
    def lake_json() -> JSONResponse:
        root, datasets, error = _read()
        status = 500 if error else 200
        return JSONResponse({"root": root, "error": error or None, "datasets": lake_page.as_json(datasets)}, status)

    @app.get("/static/lake.svg")  # the nav icon: no data in it, so no login needed (the UI loads it as an image)
    def lake_icon(dark: bool = False) -> Response:
        return Response(
            lake_page.icon(dark=dark), media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
        )

    return app


class ZaloniLakePlugin(AirflowPlugin):
    """Adds the Lake view to the Airflow UI."""

    name = "zaloni_lake"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/zaloni", "name": "Zaloni lake"}]
    external_views = [
        {
            "name": "Lake",
            "href": "/zaloni/lake",
            "icon": "/zaloni/static/lake.svg",
            "icon_dark_mode": "/zaloni/static/lake.svg?dark=true",
            "url_route": "lake",
            "destination": "nav",
            "category": "browse",
        }
    ]
