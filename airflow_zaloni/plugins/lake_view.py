"""The "Lake" view: a page in the Airflow UI, served by the API server through this provider's plugin.

The plugin mounts a small FastAPI app at ``/zaloni``:

- ``/zaloni/lake`` the datasets by zone (``?zone=``, ``?q=`` filters, ``?page=``), and
  ``/zaloni/lake/datasets/<zone>/<system>/<name>`` one dataset with its partitions (paged), runs, tasks and quality;
- ``/zaloni/api/datasets`` and ``/zaloni/api/datasets/<zone>/<system>/<name>`` the same data as JSON;
- ``/zaloni/static/...`` the nav icon, the stylesheet and the script (no data in them: no login needed).

It adds a "Lake" entry to the navigation that shows the page inside the UI. Every data endpoint needs a user allowed
to read assets (the Airflow login's token, from the header or the UI's cookie); the app has no OpenAPI docs.

Reading is read-only (no recovery of interrupted commits, no locks), cached for ``[zaloni] lake_view_cache_seconds``,
and a dataset that cannot be read is shown with its error instead of failing the page.
"""

from __future__ import annotations

from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from airflow_zaloni import config
from airflow_zaloni.lake import DatasetRef, Lake, LakeError
from airflow_zaloni.lake.catalog import DatasetSummary, catalog
from airflow_zaloni.plugins import lake_format, lake_page, redaction
from airflow_zaloni.plugins.lake_cache import TtlCache

try:
    from airflow.plugins_manager import AirflowPlugin
except ImportError:  # pragma: no cover - only without Airflow
    AirflowPlugin = object  # type: ignore[assignment,misc]

#: Headers of every answer: the page may load only its own script and style (an injected ``<script>`` or
#: ``onerror=`` would not run even if escaping failed), may be framed only by the Airflow UI, and is never sniffed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_STATIC = {"lake.css": "text/css", "lake.js": "text/javascript"}
_cache: TtlCache[tuple[list[DatasetSummary], str]] = TtlCache()


def _access_dependencies() -> list[Any]:
    try:
        from airflow.api_fastapi.core_api.security import requires_access_asset
    except ImportError:  # pragma: no cover - older API servers: no auth hook to use
        return []
    return [Depends(requires_access_asset(method="GET"))]


def _read_lake(root: str) -> tuple[list[DatasetSummary], str]:
    """Every dataset (read-only, errors per dataset), or the error that kept the whole lake from being listed."""
    try:
        return catalog(Lake(root), read_only=True, collect_errors=True), ""
    except (LakeError, OSError, ValueError) as exc:
        return [], f"cannot read the lake at {root}: {exc}"


def _lake() -> tuple[str, list[DatasetSummary], str, float]:
    root = config.lake_root()
    redaction.register_root(root)
    ttl = float(config.get("lake_view_cache_seconds", "30") or 0)
    entry = _cache.get(root, ttl, lambda: _read_lake(root))
    datasets, error = entry.value
    return root, datasets, error, entry.read_at


def _settings(request: Request) -> lake_page.ViewSettings:
    own_path = request.scope.get("root_path", "").rstrip("/") or "/zaloni"
    base_url = _api_base_url()
    ui_path = urlsplit(base_url).path.rstrip("/") if base_url else own_path.rsplit("/", 1)[0]
    try:
        page_size = max(1, int(config.get("lake_view_page_size", "50")))
    except ValueError:
        page_size = 50
    return lake_page.ViewSettings(
        own_path=own_path,
        ui_path=ui_path,
        stale_after=lake_format.parse_stale_after(config.get("stale_after", "2d")),
        page_size=page_size,
    )


def _api_base_url() -> str:
    try:
        return str(config._conf().get("api", "base_url", fallback="") or "")
    except Exception:  # not configured (a plain Python process)
        return ""


def _find(datasets: list[DatasetSummary], zone: str, system: str, name: str) -> DatasetSummary | None:
    try:
        key = DatasetRef(zone, system, name).key
    except LakeError:
        return None
    return next((d for d in datasets if d.key == key), None)


def _page_number(page: int | None) -> int:
    return page if page and page > 0 else 1


def create_app() -> FastAPI:
    app = FastAPI(
        title="Zaloni lake",
        description="Datasets of the Zaloni lake, read from their manifests.",
        docs_url=None,  # the API server's own docs need a login; these would not: off
        redoc_url=None,
        openapi_url=None,
    )
    dependencies = _access_dependencies()

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.get("/lake", response_class=HTMLResponse, dependencies=dependencies)
    def lake_html(request: Request, zone: str | None = None, q: str | None = None, page: int = 1) -> HTMLResponse:
        root, datasets, error, read_at = _lake()
        html = lake_page.render_lake(
            root,
            datasets,
            settings=_settings(request),
            error=error,
            zone=zone if zone in lake_page.ZONES else None,
            q=q,
            page=_page_number(page),
            read_at=read_at,
        )
        return HTMLResponse(html, status_code=503 if error else 200)

    @app.get("/lake/datasets/{zone}/{system}/{name}", response_class=HTMLResponse, dependencies=dependencies)
    def dataset_html(request: Request, zone: str, system: str, name: str, page: int = 1) -> HTMLResponse:
        root, datasets, error, read_at = _lake()
        settings = _settings(request)
        found = _find(datasets, zone, system, name)
        if error:
            return HTMLResponse(lake_page.render_lake(root, [], settings=settings, error=error), 503)
        if found is None:
            return HTMLResponse(lake_page.render_missing(root, f"{zone}/{system}/{name}", settings=settings), 404)
        return HTMLResponse(
            lake_page.render_dataset(root, found, settings=settings, page=_page_number(page), read_at=read_at)
        )

    @app.get("/api/datasets", dependencies=dependencies)
    def lake_json(
        request: Request, zone: str | None = None, q: str | None = None, page: int = 1, per_page: int | None = None
    ) -> JSONResponse:
        root, datasets, error, read_at = _lake()
        size = per_page if per_page and per_page > 0 else _settings(request).page_size
        chosen, paging = lake_page.page_of(lake_page._filtered(datasets, zone, q), _page_number(page), size)
        body = {
            "root": redaction.redact(root),
            "error": redaction.redact(error) if error else None,
            "read_at": read_at,
            "page": paging.page,
            "pages": paging.pages,
            "total": paging.total,
            "datasets": [lake_page.as_json(d) for d in chosen],
        }
        return JSONResponse(body, 503 if error else 200)

    @app.get("/api/datasets/{zone}/{system}/{name}", dependencies=dependencies)
    def dataset_json(request: Request, zone: str, system: str, name: str, page: int = 1) -> JSONResponse:
        root, datasets, error, read_at = _lake()
        found = _find(datasets, zone, system, name)
        if error:
            return JSONResponse({"root": redaction.redact(root), "error": redaction.redact(error)}, 503)
        if found is None:
            return JSONResponse({"error": f"no dataset {zone}/{system}/{name} in the lake"}, 404)
        shown, paging = lake_page.page_of(
            list(reversed(found.partitions)), _page_number(page), _settings(request).page_size
        )
        body = {**lake_page.as_json(found, partitions=shown), "page": paging.page, "pages": paging.pages}
        return JSONResponse({"root": redaction.redact(root), "read_at": read_at, "dataset": body})

    @app.get("/static/lake.svg")  # the nav icon: no data in it, so no login needed (the UI loads it as an image)
    def lake_icon(dark: bool = False) -> Response:
        return Response(
            lake_page.icon(dark=dark), media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
        )

    @app.get("/static/{name}")
    def lake_static(name: str) -> Response:
        if name not in _STATIC:
            return Response("not found", 404, media_type="text/plain")
        text = resources.files("airflow_zaloni.plugins").joinpath("static", name).read_text(encoding="utf-8")
        return Response(text, media_type=_STATIC[name], headers={"Cache-Control": "max-age=300"})

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
