#!/usr/bin/env python3
"""ZeroEventHub v1 producer for interoperability tests, built on the reference
Python library (`zeroeventhub`, its `ZeroEventHubFastApiHandler`) and uvicorn.

Usage:
    python producer.py --events FILE --partitions N [--port 0]

FILE holds newline-delimited JSON, one event per line in wire form:
    {"partition": P, "headers": {"name": "value", ...}, "data": <any JSON>}
("headers" is optional). Only "\\n" ends a line; blank lines are skipped.

Feed semantics (a Rust test producer implements the very same ones):

* Per partition, the k-th event (1-based, in file order) has cursor "k".
* Request cursor "_first" or "0" is the position before the first event,
  "_last" is the current end (the partition's event count), anything else
  must be ASCII decimal digits only (leading zeros allowed) with a value in
  0..=count; otherwise the request fails with 400 before anything is
  streamed. A negative pagesizehint is answered with 400 too.
* A response walks the requested partitions in ascending order and, for
  each, emits the events after its cursor, each one immediately followed by
  the checkpoint {"partition": P, "cursor": "k"}. At most `pagesizehint`
  events are emitted in the whole response (1000 when absent or 0).
* The response ends with one checkpoint per requested partition, holding
  its position after what was returned, even when nothing was returned.
* Event headers: no "headers" parameter -> no "headers" key; a list of
  names -> only those headers; "_all" -> every header. The "headers" key is
  left out whenever the selected map is empty.

Validation of `n`, of missing cursors and of a non-integer `pagesizehint` is
left to the reference library (400 with a FastAPI `{"detail": ...}` body).

The route is `/feed/v1`. Once the server accepts connections, exactly one
line `listening on http://127.0.0.1:PORT/feed/v1` is printed to stdout. The
process then serves until it receives SIGTERM/SIGINT (or is killed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import sys
from collections.abc import Generator, Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from zeroeventhub import ALL_HEADERS, Cursor, ZeroEventHubFastApiHandler

FEED_PATH = "/feed/v1"
DEFAULT_PAGE_SIZE = 1000
FIRST = "_first"
LAST = "_last"
_DIGITS = re.compile(r"[0-9]+")


class FileDataReader:
    """A `zeroeventhub.DataReader` over events loaded from an NDJSON file."""

    def __init__(self, partitions: list[list[dict[str, Any]]]) -> None:
        self._partitions = partitions

    def _position(self, cursor: Cursor) -> int:
        """Turn a request cursor into a position in 0..=count (400 if it is invalid)."""
        count = len(self._partitions[cursor.partition_id])
        value = cursor.cursor
        if value == FIRST:
            return 0
        if value == LAST:
            return count
        if _DIGITS.fullmatch(value):
            position = int(value)
            if position <= count:
                return position
        raise HTTPException(
            status_code=400,
            detail=(
                f"invalid cursor{cursor.partition_id}: {value!r} is not _first, _last "
                f"or a position in 0..={count}"
            ),
        )

    @staticmethod
    def _select_headers(
        event_headers: dict[str, str] | None, wanted: Sequence[str] | None
    ) -> dict[str, str] | None:
        if not wanted or not event_headers:
            return None
        if ALL_HEADERS[0] in wanted:
            return dict(event_headers)
        selected = {name: event_headers[name] for name in wanted if name in event_headers}
        return selected or None

    def get_data(
        self,
        cursors: Sequence[Cursor],
        headers: Sequence[str] | None,
        page_size: int | None,
    ) -> Generator[dict[str, Any], None, None]:
        """Validate eagerly (so errors become a 400), then return a lazy generator.

        The reference handler calls get_data() before it builds the streaming
        response, so an HTTPException raised here is still turned into a
        proper error response; one raised inside the generator would not be.
        """
        if page_size is not None and page_size < 0:
            raise HTTPException(
                status_code=400,
                detail=f"invalid pagesizehint: {page_size} is negative",
            )
        budget = page_size or DEFAULT_PAGE_SIZE
        starts = sorted((c.partition_id, self._position(c)) for c in cursors)
        return self._generate(starts, headers, budget)

    def _generate(
        self,
        starts: list[tuple[int, int]],
        headers: Sequence[str] | None,
        budget: int,
    ) -> Generator[dict[str, Any], None, None]:
        ends: list[tuple[int, int]] = []
        for partition, position in starts:
            events = self._partitions[partition]
            while budget > 0 and position < len(events):
                event = events[position]
                position += 1
                budget -= 1
                line: dict[str, Any] = {"partition": partition}
                selected = self._select_headers(event.get("headers"), headers)
                if selected is not None:
                    line["headers"] = selected
                line["data"] = event["data"]
                yield line
                yield {"partition": partition, "cursor": str(position)}
            ends.append((partition, position))
        for partition, position in ends:
            yield {"partition": partition, "cursor": str(position)}


def load_events(path: str, partition_count: int) -> list[list[dict[str, Any]]]:
    """Read the NDJSON event file, splitting on "\\n" only (U+2028 etc. are data)."""
    partitions: list[list[dict[str, Any]]] = [[] for _ in range(partition_count)]
    with open(path, "rb") as f:
        raw = f.read()
    for number, line_bytes in enumerate(raw.split(b"\n"), start=1):
        line = line_bytes.decode("utf-8").rstrip("\r")
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: invalid JSON: {err}") from err
        if not isinstance(obj, dict):
            raise ValueError(f"{where}: expected a JSON object")
        partition = obj.get("partition")
        if not isinstance(partition, int) or isinstance(partition, bool):
            raise ValueError(f"{where}: 'partition' must be an integer")
        if not 0 <= partition < partition_count:
            raise ValueError(f"{where}: partition {partition} is outside 0..{partition_count}")
        if "data" not in obj:
            raise ValueError(f"{where}: missing 'data'")
        headers = obj.get("headers")
        if headers is not None and not (
            isinstance(headers, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        ):
            raise ValueError(f"{where}: 'headers' must map strings to strings")
        partitions[partition].append({"headers": headers, "data": obj["data"]})
    return partitions


def build_app(partitions: list[list[dict[str, Any]]]) -> FastAPI:
    handler = ZeroEventHubFastApiHandler(
        data_reader=FileDataReader(partitions),
        server_partition_count=len(partitions),
    )
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(FEED_PATH)
    async def feed(request: Request) -> StreamingResponse:
        return handler.handle(request)

    return app


def listen(port: int) -> socket.socket:
    """Bind and listen on 127.0.0.1:port ourselves, so that port 0 can be read back."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def serve(app: FastAPI, sock: socket.socket) -> None:
    actual_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,  # uvicorn's access log would go to stdout
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task  # re-raises the startup failure
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    sys.stdout.write(f"listening on http://127.0.0.1:{actual_port}{FEED_PATH}\n")
    sys.stdout.flush()
    await task


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", required=True, help="NDJSON file of events")
    parser.add_argument("--partitions", required=True, type=int, help="partition count")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free)")
    args = parser.parse_args()
    if args.partitions < 1:
        print("error: --partitions must be at least 1", file=sys.stderr)
        return 2
    try:
        partitions = load_events(args.events, args.partitions)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        sock = listen(args.port)
    except OSError as err:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {err}", file=sys.stderr)
        return 1
    asyncio.run(serve(build_app(partitions), sock))
    return 0


if __name__ == "__main__":
    sys.exit(main())
