"""User text reaches the page escaped; only http(s) URLs become links, and safe ones."""

from __future__ import annotations

from datetime import UTC, datetime

from bs4 import BeautifulSoup

from chatin.text import linkify, local_time


def soup(markup: str) -> BeautifulSoup:
    return BeautifulSoup(markup, "html.parser")


def test_text_without_links_is_escaped_not_interpreted() -> None:
    shown = soup(str(linkify('<script>alert("x")</script> & 5 > 3')))
    assert shown.find("script") is None
    assert shown.get_text() == '<script>alert("x")</script> & 5 > 3'


def test_http_urls_become_links_that_open_safely() -> None:
    shown = soup(str(linkify("see https://example.com/a?b=1&c=2, then <b>this</b>")))
    links = shown.find_all("a")
    assert [link["href"] for link in links] == ["https://example.com/a?b=1&c=2"]
    assert links[0]["rel"] == ["noopener", "noreferrer", "nofollow"]
    assert shown.find("b") is None
    assert shown.get_text() == "see https://example.com/a?b=1&c=2, then <b>this</b>"


def test_a_url_cannot_break_out_of_its_attribute() -> None:
    shown = soup(str(linkify('http://x.test/"onmouseover="alert(1) javascript://y')))
    links = shown.find_all("a")
    assert [link["href"] for link in links] == ["http://x.test/"]
    assert not links[0].has_attr("onmouseover")


def test_local_time_shows_hours_and_minutes_with_the_full_moment_for_scripts() -> None:
    moment = datetime(2026, 11, 26, 7, 5, 9, tzinfo=UTC)
    time = soup(str(local_time(moment))).find("time")
    assert time is not None
    assert time["datetime"] == moment.isoformat()
    assert time.get_text() == "07:05"
    assert str(local_time(None)) == ""
