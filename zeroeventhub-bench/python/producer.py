#!/usr/bin/env python3
"""Python reference producer for the benchmark suite: the `zeroeventhub`
package's `ZeroEventHubFastApiHandler` under uvicorn.

Usage: python producer.py [--port 0] [--events 100000]

Serves a feed of --events events at http://127.0.0.1:PORT/feed/v1, one
partition, each event built from a dataclass and turned into a dict per
request, a checkpoint (cursor = seq) after every event. Cursors: `_first`,
`_last` or a seq. Prints `listening on http://127.0.0.1:PORT/feed/v1` once
it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from zeroeventhub import FIRST_CURSOR, LAST_CURSOR, Cursor, ZeroEventHubFastApiHandler

from workload import FEED_PATH, PersonNameChanged, run_event_loop

DEFAULT_PAGE_SIZE = 1000


class BenchDataReader:
    """A `zeroeventhub.DataReader` over a feed of a fixed length."""

    def __init__(self, events: int) -> None:
        self._events = events

    def _position(self, cursor: str) -> int:
        if cursor == FIRST_CURSOR:
            return 0
        if cursor == LAST_CURSOR:
            return self._events
        if cursor.isdigit() and int(cursor) <= self._events:
            return int(cursor)
        raise HTTPException(status_code=400, detail=f"cursor0: unknown cursor {cursor!r}")

    def get_data(
        self, cursors: Sequence[Cursor], headers: Sequence[str] | None, page_size: int | None
    ) -> Iterator[dict[str, Any]]:
        # Validate eagerly: the handler calls this before the response starts.
        start = self._position(cursors[0].cursor)
        end = min(self._events, start + (page_size or DEFAULT_PAGE_SIZE))
        return self._lines(start, end)

    @staticmethod
    def _lines(start: int, end: int) -> Iterator[dict[str, Any]]:
        for seq in range(start + 1, end + 1):
            yield {"partition": 0, "data": PersonNameChanged.at(seq).to_dict()}
            yield {"partition": 0, "cursor": str(seq)}
        if start == end:
            yield {"partition": 0, "cursor": str(start)}


def build_app(events: int) -> FastAPI:
    handler = ZeroEventHubFastApiHandler(data_reader=BenchDataReader(events), server_partition_count=1)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(FEED_PATH)
    async def feed(request: Request) -> StreamingResponse:
        return handler.handle(request)

    return app


async def serve(app: FastAPI, port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit TCP_NODELAY from this socket. uvloop sets it
    # on every connection anyway; on asyncio's own loop, without it, Nagle's
    # algorithm met the client's delayed ACKs and every keep-alive response
    # stalled about 40 ms (W2 took ~57 s instead of ~7 s).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.setblocking(False)
    # uvicorn picks httptools when installed (uvicorn[standard]); the loop is
    # uvloop, see run_event_loop.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}{FEED_PATH}", flush=True)
    await task


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    run_event_loop(serve(build_app(args.events), args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
