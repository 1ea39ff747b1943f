"""Helpers for the real-browser widget tests: a live uvicorn server and host pages that embed it."""

from __future__ import annotations

import html
import socket
import threading
import time
from pathlib import Path

import uvicorn
from fastapi.responses import HTMLResponse
from pydantic import SecretStr

from qa.api.app import create_app
from qa.config import Settings, WidgetKey
from qa.service.runtime import PipelineLoader

WIDGET_KEY = "pk_test_widget"
SERVER_KEY = "sk_test_server"  # for the tests' own direct API calls

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A host page that tries hard to break an embedded widget through CSS, and that has elements
# named like the widget's own, so a leak of the widget's styles would show on them.
HOSTILE_CSS = """
* { font-family: "Comic Sans MS", serif !important; color: rgb(255, 0, 0) !important; }
* { line-height: 3 !important; }
button { display: none !important; }
section, article, p, mark { background: rgb(0, 0, 0) !important; }
textarea { visibility: hidden !important; }
"""


class LiveServer:
    """The app served by uvicorn on 127.0.0.1 (a free port) in a thread, with test host pages.

    Host pages live under ``/test-host/<name>``. The widget key ``WIDGET_KEY`` is a real widget key
    of the app, bound to the server's own origin and to ``other_origin`` (the same server reached
    as localhost), so embedding from another origin goes through the real origin check and CORS.
    """

    def __init__(self, settings: Settings, load_pipeline: PipelineLoader) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.other_origin = f"http://localhost:{self.port}"
        key = WidgetKey(key=SecretStr(WIDGET_KEY), origins=[self.url.rstrip("/"), self.other_origin])
        # Every page of a test module shares one key and one address: the widget limit (tested in
        # test_security.py) would otherwise depend on how fast the machine runs the module.
        limits = {"widget_rate_limit": "100000/minute", "rate_limit_per_ip": "100000/minute"}
        security = settings.security.model_copy(update={"widget_keys": [key], **limits})
        web = settings.web.model_copy(update={"page_key": SecretStr(WIDGET_KEY)})
        update = {"security": security, "web": web, "api_keys": [SecretStr(SERVER_KEY)]}
        app = create_app(settings.model_copy(update=update), load_pipeline)
        self.api_headers = {"Authorization": f"Bearer {SERVER_KEY}"}
        self.pages: dict[str, str] = {}
        pages = self.pages

        @app.get("/test-host/{name}", include_in_schema=False)
        async def host_page(name: str) -> HTMLResponse:
            # A third-party site has its own (here: no) content policy, not the one our API
            # middleware gives our own pages.
            return HTMLResponse(
                pages[name], headers={"Content-Security-Policy": "default-src * 'unsafe-inline'"}
            )

        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()

    def host_page(
        self,
        name: str,
        *,
        attrs: dict[str, str] | None = None,
        css: str = "",
        origin: str | None = None,
        script_origin: str | None = None,
        widget: bool = True,
    ) -> str:
        """Register a page embedding the widget; returns its URL (on ``origin``, default ours)."""
        attributes = {"data-key": WIDGET_KEY, "data-title": "Ask the article", **(attrs or {})}
        rendered = " ".join(f'{k}="{html.escape(v)}"' for k, v in attributes.items())
        src = f"{script_origin or self.url.rstrip('/')}/widget.js"
        self.pages[name] = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>A news site</title><style>{css}</style></head>
<body>
<a href="#top" id="skip">Top of the page</a>
<h1>A news site</h1>
<p>Some article text on the host page.</p>
<button class="send chip launcher" id="host-button" style="display:inline-block">Host button</button>
{f'<script src="{src}" {rendered} defer></script>' if widget else ""}
</body></html>"""
        return f"{origin or self.url.rstrip('/')}/test-host/{name}"
