"""The Hypercorn adjustments refuse a Hypercorn they were not written for."""

from __future__ import annotations

import pytest

from chatin import transport
from chatin.config import ConfigError


def test_another_hypercorn_version_stops_the_start_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "version", lambda _name: "0.19.1")
    with pytest.raises(ConfigError, match=r"0\.18\.0.*0\.19\.1.*requirements\.txt"):
        transport.adjust_hypercorn()


def test_the_pinned_hypercorn_is_adjusted() -> None:
    transport.adjust_hypercorn()
    assert transport.hypercorn_run.TCPServer is transport.WriteBoundedTCPServer
    assert transport.ws_stream.Connection is transport.AnsweringConnection
