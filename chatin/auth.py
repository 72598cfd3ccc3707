"""Who is asking: session cookies, the viewer, CSRF, the socket's Origin and log-in throttles."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import wraps
from typing import ParamSpec, TypeVar

from quart import Quart, Response, abort, current_app, g, redirect, request, session, websocket
from quart.ctx import has_request_context
from quart.sessions import SecureCookieSession, SecureCookieSessionInterface
from quart.wrappers import BaseRequestWebsocket
from quart_auth import AuthUser, QuartAuth, current_user, login_user, logout_user
from tortoise import connections

from chatin.models import AuthSession, Throttle, User, notify

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_DAYS = 30

LOGIN_FAILURES = Throttle("login", limit=10, window=timedelta(minutes=15))
SIGNUPS = Throttle("signup", limit=20, window=timedelta(hours=1))

P = ParamSpec("P")
R = TypeVar("R")


class ChatAuth(QuartAuth):
    """quart-auth whose cookie is Secure exactly when the request came over https."""

    async def after_request(self, response: Response) -> Response:
        # No await separates this from its use in super(), so concurrent requests can't mix.
        self.cookie_secure = request.is_secure
        return await super().after_request(response)


class SchemeAwareSessionInterface(SecureCookieSessionInterface):
    """Quart's signed session cookie, holding the CSRF token of a logged-out browser;
    Secure over https only."""

    def get_cookie_secure(self, app: object) -> bool:
        return has_request_context() and request.is_secure

    async def open_session(
        self, app: Quart, request: BaseRequestWebsocket
    ) -> SecureCookieSession | None:
        """Logged-in browsers carry no session cookie: skip building a signer for nothing
        on every request and socket (Quart opens the session before any view runs)."""
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return await super().open_session(app, request)


def make_auth() -> ChatAuth:
    return ChatAuth(
        cookie_samesite="Lax",
        cookie_http_only=True,
        cookie_secure=False,
        duration=int(timedelta(days=SESSION_DAYS).total_seconds()),
    )


async def current_viewer() -> User | None:
    """The logged-in user of this request or socket, loaded once; None when logged out."""
    if "viewer" not in g:
        token = current_user.auth_id
        found = await AuthSession.viewer(token) if token else None
        g.viewer, g.session_id = found if found else (None, None)
    return g.viewer


async def required_viewer() -> User:
    """The viewer of a route behind login_required, which has already loaded them."""
    viewer = await current_viewer()
    assert viewer is not None
    return viewer


def current_session_id() -> int | None:
    """The id of the session behind this request; call after current_viewer()."""
    return g.get("session_id")


async def log_in(user: User) -> None:
    """Open a session; its token now derives the CSRF token, so the logged-out one (and
    with it Quart's session cookie) goes."""
    token = await AuthSession.begin(user)
    login_user(AuthUser(token), remember=True)
    session.pop(CSRF_FIELD, None)


async def log_out() -> None:
    """End this session on the server; every worker closes the session's open sockets."""
    viewer = await current_viewer()
    token = current_user.auth_id
    if token and viewer is not None:
        await AuthSession.end(token)
        await notify(
            connections.get("default"), "logout", session=current_session_id(), to=[viewer.id]
        )
    logout_user()


def login_required(view: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | Response]]:
    """Send logged-out visitors to /login; htmx requests are told to go there too."""

    @wraps(view)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        if await current_viewer() is None:
            if request.headers.get("HX-Request") == "true":
                return Response("", status=401, headers={"HX-Redirect": "/login"})
            return redirect("/login")
        return await view(*args, **kwargs)

    return guarded


def csrf_token() -> str:
    """This browser's CSRF token for its forms.

    Logged in, it is an HMAC of the session token, so one signed cookie carries both and
    ending the session voids the token. Logged out, it is random, made on first use and
    kept in Quart's signed session cookie.
    """
    expected = _expected_csrf_token()
    if expected is None:
        expected = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return expected


def _expected_csrf_token() -> str | None:
    auth_token = current_user.auth_id  # the signed cookie's token, whether or not still valid
    if auth_token:
        key = str(current_app.secret_key).encode()
        return hmac.new(key, f"csrf:{auth_token}".encode(), hashlib.sha256).hexdigest()
    return session.get(CSRF_FIELD)


async def check_csrf() -> None:
    """Refuse any state-changing request that doesn't carry this browser's token."""
    if request.method in SAFE_METHODS:
        return
    expected = _expected_csrf_token()
    sent = request.headers.get(CSRF_HEADER) or (await request.form).get(CSRF_FIELD)
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        abort(403, "This form has expired. Reload the page and try again.")


def client_address() -> str:
    return request.remote_addr or "unknown"


def socket_origin_allowed() -> bool:
    """The handshake's Origin must be this app as the browser sees it; missing or null fails."""
    origin = websocket.headers.get("Origin")
    if not origin or origin == "null":
        return False
    scheme = "https" if websocket.scheme in ("wss", "https") else "http"
    return hmac.compare_digest(origin, f"{scheme}://{websocket.host}")
