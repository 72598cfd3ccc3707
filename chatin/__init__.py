"""ChatIn: a self-hosted real-time chat, rendered on the server.

`create_app(settings)` builds the app without touching files, sockets or the database;
`before_serving` connects. `chatin.app` is built from the environment, for
`hypercorn chatin:app`.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from hypercorn.middleware import ProxyFixMiddleware
from hypercorn.typing import ASGIFramework, Scope
from quart import Quart, Response, g, has_request_context, render_template, request
from werkzeug.exceptions import HTTPException

from chatin import db, uploads
from chatin.auth import (
    SESSION_CACHE,
    SchemeAwareSessionInterface,
    SessionCache,
    check_csrf,
    csrf_token,
    make_auth,
)
from chatin.bodies import MAX_REQUEST_BYTES, SizedConnection
from chatin.config import ConfigError, Settings, load_or_create_secret_key
from chatin.fragments import PARTIALS, partial_environment, quick_reactions_for
from chatin.live import socket
from chatin.live.hub import RESTART_CODE, Hub
from chatin.live.listener import Listener
from chatin.models import QUICK_REACTIONS, NotFound
from chatin.text import linkify, local_time
from chatin.transport import DirectWebsocketConnection, adjust_hypercorn
from chatin.views import (
    BigDatabaseId,
    DatabaseId,
    accounts,
    actions,
    chat,
    files,
    groups,
    health,
    profiles,
)

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER_PID_ENV = "CHATIN_LAUNCHER_PID"
PR_SET_PDEATHSIG = 1
SOCKET_SCHEMES = {"http": "ws", "https": "wss"}
FULL_COLLECTION_EVERY = 100  # middle-generation passes (CPython's default: 10)

# blob: images are the composer's thumbnails of files chosen but not yet sent (attach.js).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def create_app(settings: Settings | None = None) -> Quart:
    settings = settings or Settings.from_env()
    app = Quart(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="chatin_session",
        QUART_AUTH_COOKIE_NAME="chatin_auth",
        # Quart sends every response inside wait_for(60 s): an extra task and timer per
        # request (about 7 % of a message POST's CPU, bench/RESULTS.md), and a cut-off for a
        # large download on a slow link. A peer that stops reading is cut by the transport
        # instead (chatin/transport.py, 10 s of no progress).
        RESPONSE_TIMEOUT=None,
    )
    app.extensions["settings"] = settings
    app.asgi_http_class = SizedConnection
    app.asgi_websocket_class = DirectWebsocketConnection
    app.extensions[SESSION_CACHE] = SessionCache()
    app.session_interface = SchemeAwareSessionInterface()
    auth = make_auth()
    auth.init_app(app)
    # quart-auth adds a sync context processor (current_user) that Quart runs in a thread
    # for every render; no template reads current_user, so it goes.
    app.template_context_processors[None].remove(auth._template_context)
    app.add_template_global(csrf_token)
    app.add_template_filter(linkify)
    app.add_template_filter(local_time)
    app.add_template_global(QUICK_REACTIONS, "quick_reactions")
    app.add_template_global(quick_reactions_for)
    app.extensions[PARTIALS] = partial_environment(app.jinja_env)
    app.before_request(check_csrf)
    app.after_request(_security_headers)
    app.url_map.converters["dbid"] = DatabaseId  # before the routes that use it
    app.url_map.converters["bigid"] = BigDatabaseId
    for module in (accounts, chat, actions, files, groups, health, profiles, socket):
        app.register_blueprint(module.blueprint)
    uploads.install(app, settings.files)
    _register_error_pages(app)
    _register_lifecycle(app, settings)
    _trust_proxies(app, settings.trusted_proxies)
    return app


def _trust_proxies(app: Quart, hops: int) -> None:
    """Behind `hops` reverse proxies, the client's address, scheme and host are the ones the
    last `hops` entries of X-Forwarded-For, -Proto and -Host name, for requests and sockets
    alike: throttles count each client, cookies are Secure over https, and the socket's
    Origin is compared with the public origin. With none, those headers are ignored, so a
    client can't forge them to dodge a throttle or pass a foreign Origin."""
    if hops:
        inner = _SocketSchemes(app.asgi_app)
        app.asgi_app = ProxyFixMiddleware(inner, mode="legacy", trusted_hops=hops)


class _SocketSchemes:
    """Hypercorn's ProxyFixMiddleware copies X-Forwarded-Proto (`https`) into socket scopes
    too, where ASGI says `wss`; werkzeug would then route the socket as a plain request (a
    400). This puts the socket's own scheme back."""

    def __init__(self, app: ASGIFramework) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] == "websocket":
            scope["scheme"] = SOCKET_SCHEMES.get(scope["scheme"], scope["scheme"])
        await self.app(scope, receive, send)


def _register_lifecycle(app: Quart, settings: Settings) -> None:
    @app.before_serving
    async def start() -> None:
        _die_with_launcher()
        app.secret_key = settings.secret_key or load_or_create_secret_key(settings.data_dir)
        database_url = db.require_url(settings.database_url)
        await db.open(database_url)
        hub = Hub(app)
        hub.start()
        app.extensions["hub"] = hub
        sessions = app.extensions[SESSION_CACHE]
        app.extensions["listener"] = await Listener.start(database_url, hub, sessions)
        _settle_garbage_collector()

    @app.after_serving
    async def stop() -> None:
        await app.extensions["listener"].stop()
        hub: Hub = app.extensions["hub"]
        hub.close_all(RESTART_CODE)
        await hub.stop()
        await db.close()
        gc.unfreeze()


def _settle_garbage_collector() -> None:
    """Fewer full garbage collections while sockets pile up.

    CPython runs a full pass each time the long-lived heap grows by a quarter; while 4,000
    tabs opened, those passes (up to 0.9 s each) took about 4 of the 15 s (bench/RESULTS.md).
    What startup built is frozen out of them, and they wait for 100 middle passes instead
    of 10. `stop` unfreezes, so an app that stops (as in tests) can be collected.
    """
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


def _die_with_launcher() -> None:
    """A worker of `python -m chatin` ends when its launcher dies, even by SIGKILL.

    Otherwise an orphaned worker would keep the port and talk to a stopped database.
    """
    launcher = os.environ.get(LAUNCHER_PID_ENV)
    if launcher is None or sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(launcher):  # the launcher died before prctl took effect
        os._exit(1)


SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)


async def _security_headers(response: Response) -> Response:
    """Every response's security headers, unless the view set its own (files do), and
    no-store on someone's chats. The names present are read once: werkzeug's `in` and
    `setdefault` raise and catch an exception for each header that is missing."""
    headers = response.headers
    present = {name.lower() for name, _ in headers}
    for name, value in SECURITY_HEADERS:
        if name.lower() not in present:
            headers.add(name, value)
    if g.get("viewer") is not None and "cache-control" not in present:
        # Someone's chats: no browser or proxy may keep them (the back button after a log-out
        # on a shared computer). The viewer was loaded for this request anyway; static files
        # load none and keep their caching.
        # A file response says itself how it may be kept (privately).
        headers.add("Cache-Control", "no-store")
    return response


def _register_error_pages(app: Quart) -> None:
    @app.errorhandler(NotFound)
    async def not_found(_: NotFound) -> tuple[str, int]:
        return await render_template("pages/not_found.html"), 404

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> tuple[str, int] | Response:
        if error.code == 404:
            return await render_template("pages/not_found.html"), 404
        # A socket's refused handshake has no request (and no page); htmx shows the text.
        if not has_request_context() or request.headers.get("HX-Request") == "true":
            return Response(error.description or "", status=error.code or 500)
        page = await render_template("pages/error.html", code=error.code, message=error.description)
        return page, error.code or 500

    @app.errorhandler(Exception)
    async def server_error(error: Exception) -> tuple[str, int]:
        app.logger.exception("unhandled error", exc_info=error)
        message = "Something went wrong on our side. Try again in a moment."
        return await render_template("pages/error.html", code=500, message=message), 500


def _app_from_env() -> Quart:
    """The app for `hypercorn chatin:app`; a bad setting ends the process with its message."""
    try:
        adjust_hypercorn()
        return create_app()
    except ConfigError as error:
        raise SystemExit(f"chatin: {error}") from None


app = _app_from_env()
