"""The ceiling: a bare Quart + Hypercorn relay with no database, the same shape as ChatIn's
live path (send over HTTP, push over the recipient's socket), driven by the same generator.

    python -m bench.relay --bind 127.0.0.1:8001

One worker only: a user's socket and the POST for them may land on different workers, and
sharing between workers is exactly what the relay leaves out (ChatIn uses PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

from hypercorn.asyncio import serve
from hypercorn.config import Config
from markupsafe import escape
from quart import Quart, request, websocket

QUEUE_SIZE = 256

app = Quart(__name__)
sockets: dict[str, asyncio.Queue[str]] = {}
message_ids = itertools.count(1)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/send")
async def send() -> tuple[str, int]:
    """Queue the message for the recipient's socket; never awaits the socket itself."""
    form = await request.form
    queue = sockets.get(form.get("to", ""))
    if queue is None:
        return "no socket for that user", 404
    client_id, body = escape(form.get("client_id", "")), escape(form.get("body", ""))
    frame = (
        f'<article id="message-{next(message_ids)}" data-client-id="{client_id}">'
        f"<p>{body}</p></article>"
    )
    try:
        queue.put_nowait(frame)
    except asyncio.QueueFull:
        return "recipient too slow", 503
    return "", 201


@app.websocket("/ws")
async def ws() -> None:
    user = websocket.args.get("user", "")
    queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
    sockets[user] = queue
    await websocket.accept()
    try:
        while True:
            await websocket.send(await queue.get())
    finally:
        if sockets.get(user) is queue:
            del sockets[user]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1:8001")
    args = parser.parse_args()
    config = Config()
    config.bind = [args.bind]
    config.accesslog = None
    print(f"Relay serving on http://{args.bind}", flush=True)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(app, config))
    else:
        uvloop.run(serve(app, config))


if __name__ == "__main__":
    main()
