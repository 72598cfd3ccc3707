"""Every kind of answer carries the security headers (the after-request hook that adds them
reads the response's headers its own way, for speed), and someone's chats are never stored."""

from __future__ import annotations

from quart.testing import QuartClient
from quart.wrappers import Response

from chatin import CONTENT_SECURITY_POLICY
from tests.chatting import Person, conversation_of

SECURITY = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def assert_secured(response: Response, what: str, stored: bool = False) -> None:
    for name, value in SECURITY.items():
        assert response.headers.getlist(name) == [value], (what, name)
    cache = response.headers.getlist("Cache-Control")
    if stored:
        assert "no-store" not in ",".join(cache), what
    else:
        assert cache == ["no-store"], what


async def test_every_kind_of_answer_to_a_logged_in_person(alice: Person, bob: Person) -> None:
    conversation = conversation_of(await alice.add_contact(bob.email))
    answers = {
        "a page": await alice.client.get(f"/c/{conversation}"),
        "a sent message (htmx)": await alice.send(conversation, "hello"),
        "a sent message (plain form)": await alice.send(conversation, "hello", htmx=False),
        "a refused message (htmx)": await alice.send(conversation, "hi", client_id="nonsense"),
        "an empty answer": await alice.post(f"/c/{conversation}/typing", htmx=True),
        "a missing conversation": await alice.client.get("/c/999999"),
        "an expired form": await alice.client.post(
            f"/c/{conversation}/messages", form={"body": "x"}, headers={"HX-Request": "true"}
        ),
    }
    expected = [200, 201, 303, 400, 204, 404, 403]
    assert [r.status_code for r in answers.values()] == expected
    for what, response in answers.items():
        assert_secured(response, what)


async def test_logged_out_answers_and_static_files(client: QuartClient) -> None:
    answers = {
        "the log-in page": await client.get("/login"),
        "a redirect to log in": await client.get("/"),
        "htmx told to log in": await client.post("/c/1/typing", headers={"HX-Request": "true"}),
        "a static file": await client.get("/static/css/app.css"),
    }
    assert [r.status_code for r in answers.values()] == [200, 302, 403, 200]
    for what, response in answers.items():
        assert_secured(response, what, stored=True)
