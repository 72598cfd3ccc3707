"""Who is asking: session cookies, the viewer, CSRF, the socket's Origin and log-in throttles."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import ParamSpec, TypeVar

from quart import Quart, Response, abort, current_app, g, redirect, request, session, websocket
from quart.ctx import has_request_context
from quart.sessions import SecureCookieSession, SecureCookieSessionInterface
from quart.wrappers import BaseRequestWebsocket
from quart_auth import Action, AuthUser, QuartAuth, current_user, login_user, logout_user

from chatin.events import Event, Kind
from chatin.models import Attempt, AuthSession, Throttle, User

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_DAYS = 30
SESSION_CACHE = "chatin.sessions"
SESSION_CACHE_SECONDS = 60.0
SESSION_CACHE_SIZE = 10_000

# Password checks (log-in, password change) per email and per client address; a right
# password gives its attempt back.
LOGINS = Throttle("login", limit=10, window=timedelta(minutes=15))
# Every sign-up form sent (also refused ones) per client address.
SIGNUPS = Throttle("signup", limit=20, window=timedelta(hours=1))

P = ParamSpec("P")
R = TypeVar("R")


class ChatAuth(QuartAuth):
    """quart-auth whose cookie is Secure exactly when the request came over https, and
    which leaves the cookie alone unless this request logged in or out."""

    async def after_request(self, response: Response) -> Response:
        if not self._logged_in_or_out():
            return response
        # No await separates this from its use in super(), so concurrent requests can't mix.
        self.cookie_secure = request.is_secure
        return await super().after_request(response)

    async def after_websocket(self, response: Response | None) -> Response | None:
        return response  # a socket can't set cookies; nothing to check

    def _logged_in_or_out(self) -> bool:
        """quart-auth's own after_request would verify the cookie's signature again just to
        learn that nothing changed (the session cache skips it on requests)."""
        user = g.get(self.attribute_name)
        return user is not None and user.action != Action.PASS


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


@dataclass(frozen=True)
class KnownSession:
    viewer: User
    session_id: int
    token: str
    until: float


class SessionCache:
    """Per worker: which live session a signed cookie stands for, for a minute.

    Every request and socket open asks; a hit saves the cookie's signature check and a
    query. Ending a session or renaming a user is announced to every worker, which forgets
    at once (see Listener); announcements are lost only with the LISTEN connection, so while
    it is down the cache is bypassed (every lookup goes to the database) and it starts
    empty when the listener is back. The lifetime bounds the rest (a session past its 30
    days) and lets the tabs of one person, reconnecting together, share a load.
    """

    def __init__(self, seconds: float = SESSION_CACHE_SECONDS) -> None:
        self._seconds = seconds
        self._by_cookie: dict[str, KnownSession] = {}
        self.epoch = 0  # moves on every forget: a lookup that overlapped one isn't kept
        self.bypassed = False

    def bypass(self) -> None:
        """Announcements may be lost from now on: serve and keep nothing."""
        self.bypassed = True
        self.clear()

    def resume(self) -> None:
        """Announcements arrive again; what they missed meanwhile was never kept."""
        self.clear()
        self.bypassed = False

    def get(self, cookie: str) -> KnownSession | None:
        if self.bypassed:
            return None
        known = self._by_cookie.get(cookie)
        if known is not None and known.until < time.monotonic():
            del self._by_cookie[cookie]
            return None
        return known

    def put(self, cookie: str, epoch: int, viewer: User, session_id: int, token: str) -> None:
        """Keep a session loaded from the database, unless something was forgotten since
        the lookup began (`epoch`): the row it read may have been deleted meanwhile."""
        if epoch != self.epoch or self.bypassed:
            return
        if len(self._by_cookie) >= SESSION_CACHE_SIZE:
            del self._by_cookie[next(iter(self._by_cookie))]  # the oldest
        until = time.monotonic() + self._seconds
        self._by_cookie[cookie] = KnownSession(viewer, session_id, token, until)

    def forget(self, event: Event) -> None:
        """Drop what an announcement makes stale: an ended session, a renamed user."""
        if event.kind is Kind.LOGOUT:
            self.forget_session(event.session)
        elif event.kind is Kind.PROFILE:
            self.forget_user(event.user)

    def forget_session(self, session_id: int | None) -> None:
        self._drop(lambda known: known.session_id == session_id)

    def forget_user(self, user_id: object) -> None:
        """Drop every session of a user (password or name changed here)."""
        self._drop(lambda known: known.viewer.id == user_id)

    def _drop(self, stale: Callable[[KnownSession], bool]) -> None:
        self.epoch += 1
        for cookie in [cookie for cookie, known in self._by_cookie.items() if stale(known)]:
            del self._by_cookie[cookie]

    def clear(self) -> None:
        self.epoch += 1
        self._by_cookie.clear()


def _session_cache() -> SessionCache:
    return current_app.extensions[SESSION_CACHE]


def _auth_cookie() -> str | None:
    source = request if has_request_context() else websocket
    return source.cookies.get(current_app.config["QUART_AUTH_COOKIE_NAME"])


async def current_viewer() -> User | None:
    """The logged-in user of this request or socket, loaded once; None when logged out."""
    if "viewer" in g:
        return g.viewer
    g.viewer = g.session_id = g.auth_token = None
    cookie = _auth_cookie()
    if cookie is None:
        return None
    cache = _session_cache()
    g.session_epoch = cache.epoch
    known = cache.get(cookie)
    if known is None:
        g.auth_token = current_user.auth_id
        found = await AuthSession.viewer(g.auth_token) if g.auth_token else None
        if found is None:
            return None
        cache.put(cookie, g.session_epoch, *found, g.auth_token)
        g.viewer, g.session_id = found
    else:
        g.viewer, g.session_id, g.auth_token = known.viewer, known.session_id, known.token
    return g.viewer


async def session_still_open() -> bool:
    """Whether the session current_viewer() found is still open. For a socket, asked once
    it is in the hub: a log-out announced while its session was being looked up found no
    socket to close. Only when something was forgotten since (the cache's epoch moved) is
    the session read again, so an ordinary socket open costs no query."""
    if _session_cache().epoch == g.session_epoch:
        return True
    return await AuthSession.viewer(g.auth_token) is not None


async def required_viewer() -> User:
    """The viewer of a route behind login_required, which has already loaded them."""
    viewer = await current_viewer()
    assert viewer is not None
    return viewer


def current_session_id() -> int | None:
    """The id of the session behind this request; call after current_viewer()."""
    return g.get("session_id")


async def log_in(user: User) -> bool:
    """Open a session; its token now derives the CSRF token, so the logged-out one (and
    with it Quart's session cookie) goes. False if user's password changed meanwhile."""
    token = await AuthSession.begin(user)
    if token is None:
        return False
    login_user(AuthUser(token), remember=True)
    session.pop(CSRF_FIELD, None)
    return True


async def count_attempt(throttle: Throttle, *parts: str) -> Attempt:
    """Count an attempt against throttle, unless CHATIN_RATE_LIMITS lifts the limits."""
    if not current_app.extensions["settings"].rate_limits:
        return Attempt()
    return await throttle.attempt(*parts)


def password_check_keys(email_key: str | None) -> list[str]:
    """What LOGINS counts a password check under: the client address, and the account's
    email (an address that can't be an account's has nothing to guard)."""
    keys = [f"addr:{client_address()}"]
    if email_key is not None:
        keys.append(f"email:{email_key}")
    return keys


async def log_out() -> None:
    """End this session on the server; every worker closes the session's open sockets."""
    viewer = await current_viewer()
    if viewer is not None:
        await AuthSession.end(g.auth_token)
        # Here at once; other workers when the announcement comes.
        _session_cache().forget_session(current_session_id())
    logout_user()


def forget_user_sessions(user_id: int) -> None:
    """After a change to a user here, their next request on this worker reloads them."""
    _session_cache().forget_user(user_id)


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


async def csrf_token() -> str:
    """This browser's CSRF token for its forms.

    Logged in, it is an HMAC of the session token, so one signed cookie carries both and
    ending the session voids the token. Logged out, it is random, made on first use and
    kept in Quart's signed session cookie.
    """
    expected = await _expected_csrf_token()
    if expected is None:
        expected = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return expected


async def _expected_csrf_token() -> str | None:
    await current_viewer()
    auth_token = g.auth_token or current_user.auth_id  # the cookie's, valid or not
    if auth_token:
        key = str(current_app.secret_key).encode()
        return hmac.new(key, f"csrf:{auth_token}".encode(), hashlib.sha256).hexdigest()
    return session.get(CSRF_FIELD)


async def csrf_checker() -> Callable[[str | None], bool]:
    """A test of a sent token against this browser's, for views that read their own body."""
    expected = await _expected_csrf_token()

    def matches(sent: str | None) -> bool:
        return bool(expected and sent and sent.isascii()) and hmac.compare_digest(
            str(expected).encode(), str(sent).encode()
        )

    return matches


async def check_csrf() -> None:
    """Refuse any state-changing request that doesn't carry this browser's token."""
    if request.method in SAFE_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if request.mimetype == "multipart/form-data" and getattr(view, "streams_body", False):
        return  # the view checks the token as it reads the body (uploads.streams_body)
    expected = await _expected_csrf_token()
    sent = request.headers.get(CSRF_HEADER) or (await request.form).get(CSRF_FIELD)
    # As bytes: compare_digest refuses str holding anything but ASCII.
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        abort(403, "This form has expired. Reload the page and try again.")


def client_address() -> str:
    return request.remote_addr or "unknown"


def socket_origin_allowed() -> bool:
    """The handshake's Origin must be this app as the browser sees it; missing or null fails.

    Browsers send origins in ASCII (punycode); anything else is refused before the
    comparison, which only takes ASCII strings.
    """
    origin = websocket.headers.get("Origin")
    if not origin or origin == "null" or not origin.isascii():
        return False
    scheme = "https" if websocket.scheme in ("wss", "https") else "http"
    return hmac.compare_digest(origin, f"{scheme}://{websocket.host}")
