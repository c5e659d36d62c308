"""The web dashboard and the API docs, served by the API itself with every asset local.

Why local: the dashboard is shown to brokers and regulators on machines that may have no
internet, and a page that loads nothing from elsewhere cannot leak what it shows. The pages are
plain HTML/JS/CSS in `static/` (package data) calling the JSON API with the key in the
Authorization header; every rule is the API's (the page hides nothing the API would give).
Swagger UI's assets come from the `swagger-ui-bundle-v2` wheel, not from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/dashboard"
DOCS_ASSETS_PATH = "/docs-assets"
# Only this server: scripts, styles, images and connections. No inline script in the dashboard.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def install(app: FastAPI) -> None:
    """`/` is the dashboard, `/dashboard/*` its assets, `/docs` Swagger UI from local assets."""
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="dashboard")
    app.mount(DOCS_ASSETS_PATH, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title}: docs",
            swagger_js_url=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS_PATH}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # the default posts the schema to swagger.io
        )
