"""Accounts: sign-up, log-in, log-out and the profile (display name, password)."""

from __future__ import annotations

from urllib.parse import urlsplit

import segno
from quart import Blueprint, Response, current_app, redirect, render_template, request

from chatin.auth import (
    LOGINS,
    SIGNUPS,
    client_address,
    count_attempt,
    current_session_id,
    current_viewer,
    forget_user_sessions,
    log_in,
    log_out,
    login_required,
    password_check_keys,
    required_viewer,
)
from chatin.config import Settings
from chatin.models import MAX_DISPLAY_NAME_CHARS, MIN_PASSWORD_CHARS, Busy, InvalidInput, User
from chatin.models.profiles import link_token, picture_version

blueprint = Blueprint("accounts", __name__)

LOGIN_FAILED = "Invalid email or password"
TOO_MANY_LOGINS = "Too many wrong passwords. Wait a few minutes and try again."
BUSY_RETRY_SECONDS = 5
MAX_NEXT_CHARS = 200


def local_path(raw: str | None) -> str | None:
    """Where to go after log-in or sign-up: a path on this site, or None.

    Anything that could leave the site is refused: another host (`//evil`, `/\\evil`,
    `https:`), and whitespace or control characters that browsers strip before parsing.
    """
    if not raw or len(raw) > MAX_NEXT_CHARS or not raw.isascii() or not raw.isprintable():
        return None
    if not raw.startswith("/") or raw.startswith("//") or "\\" in raw or " " in raw:
        return None
    parts = urlsplit(raw)
    return raw if not parts.scheme and not parts.netloc else None


def _next_path() -> str | None:
    return local_path(request.args.get("next"))


def _settings() -> Settings:
    return current_app.extensions["settings"]


async def _signup_page(status: int = 200, **context: object) -> tuple[str, int]:
    page = await render_template(
        "pages/signup.html",
        max_display_name=MAX_DISPLAY_NAME_CHARS,
        min_password=MIN_PASSWORD_CHARS,
        **context,
    )
    return page, status


async def _login_page(status: int = 200, **context: object) -> tuple[str, int]:
    return await render_template("pages/login.html", **context), status


async def _next_from_form() -> str:
    """Where a log-in or sign-up form leads: the safe `next` it carried, or home."""
    return local_path((await request.form).get("next")) or "/"


def _too_many(retry_after: int, page: tuple[str, int]) -> Response:
    body, _ = page
    return Response(body, status=429, headers={"Retry-After": str(retry_after)})


@blueprint.errorhandler(Busy)
async def busy(_: Busy) -> Response:
    """Password checks are queueing in this worker: come back in a few seconds."""
    message = "Too many people are logging in right now. Try again in a few seconds."
    page = await render_template("pages/error.html", code=503, message=message)
    return Response(page, status=503, headers={"Retry-After": str(BUSY_RETRY_SECONDS)})


@blueprint.get("/signup")
async def signup_form() -> tuple[str, int] | Response:
    if await current_viewer() is not None:
        return redirect(_next_path() or "/")
    return await _signup_page(values={}, errors={}, next_path=_next_path())


@blueprint.post("/signup")
async def signup() -> tuple[str, int] | Response:
    form = await request.form
    values = {name: form.get(name, "") for name in ("display_name", "email")}
    next_path = await _next_from_form()
    attempt = await count_attempt(SIGNUPS, f"addr:{client_address()}")
    if attempt.retry_after:
        message = "Too many sign-ups from your network. Try again later."
        page = await _signup_page(values=values, errors={"form": message}, next_path=next_path)
        return _too_many(attempt.retry_after, page)
    try:
        user = await User.sign_up(
            values["display_name"],
            values["email"],
            form.get("password", ""),
            rounds=_settings().bcrypt_rounds,
        )
    except InvalidInput as invalid:
        return await _signup_page(422, values=values, errors=invalid.errors, next_path=next_path)
    await log_in(user)  # can't fail: no one else knows the password yet
    return redirect(next_path, 303)


@blueprint.get("/login")
async def login_form() -> tuple[str, int] | Response:
    if await current_viewer() is not None:
        return redirect(_next_path() or "/")
    return await _login_page(email="", error=None, next_path=_next_path())


@blueprint.post("/login")
async def login() -> tuple[str, int] | Response:
    form = await request.form
    email = form.get("email", "")
    next_path = await _next_from_form()
    attempt = await count_attempt(LOGINS, *password_check_keys(User.email_key_of(email)))
    if attempt.retry_after:
        page = await _login_page(email=email, error=TOO_MANY_LOGINS, next_path=next_path)
        return _too_many(attempt.retry_after, page)
    user = await User.authenticate(email, form.get("password", ""), _settings().bcrypt_rounds)
    if user is None or not await log_in(user):
        return await _login_page(401, email=email, error=LOGIN_FAILED, next_path=next_path)
    await LOGINS.give_back(attempt)
    return redirect(next_path, 303)


@blueprint.post("/logout")
async def logout() -> Response:
    await log_out()
    return redirect("/login", 303)


async def profile_page(viewer: User, status: int = 200, **context: object) -> tuple[str, int]:
    """The profile page; its forms' errors come in `context`."""
    context.setdefault("errors", {})
    context.setdefault("saved", request.args.get("saved"))
    link = f"{request.host_url}link/{await link_token(viewer.id)}"
    page = await render_template(
        "pages/profile.html",
        viewer=viewer,
        max_display_name=MAX_DISPLAY_NAME_CHARS,
        min_password=MIN_PASSWORD_CHARS,
        link=link,
        link_qr=segno.make(link, error="m").svg_data_uri(scale=4, border=2),
        picture=await picture_version(viewer.id),
        **context,
    )
    return page, status


@blueprint.get("/profile")
@login_required
async def profile() -> tuple[str, int]:
    return await profile_page(await required_viewer())


@blueprint.post("/profile/name")
@login_required
async def rename() -> Response | tuple[str, int]:
    viewer = await required_viewer()
    try:
        await viewer.rename((await request.form).get("display_name", ""))
    except InvalidInput as invalid:
        return await profile_page(viewer, 422, errors=invalid.errors)
    forget_user_sessions(viewer.id)
    return redirect("/profile?saved=name", 303)


@blueprint.post("/profile/password")
@login_required
async def change_password() -> Response | tuple[str, int]:
    viewer = await required_viewer()
    form = await request.form
    attempt = await count_attempt(LOGINS, *password_check_keys(viewer.email_key))
    if attempt.retry_after:
        page = await profile_page(viewer, errors={"current_password": TOO_MANY_LOGINS})
        return _too_many(attempt.retry_after, page)
    try:
        await viewer.change_password(
            form.get("current_password", ""),
            form.get("new_password", ""),
            rounds=_settings().bcrypt_rounds,
            keep_session=current_session_id(),
        )
    except InvalidInput as invalid:
        if "current_password" not in invalid.errors:  # the password was right
            await LOGINS.give_back(attempt)
        return await profile_page(viewer, 422, errors=invalid.errors)
    await LOGINS.give_back(attempt)
    forget_user_sessions(viewer.id)
    return redirect("/profile?saved=password", 303)
