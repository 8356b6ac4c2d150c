#!/usr/bin/env python3
"""ZeroEventHub v1 consumer for interoperability tests, built on the reference
Python library's `zeroeventhub.Client` and an `httpx.AsyncClient`.

Usage:
    python consume.py URL --partitions N [--cursor P=C ...] [--page-size-hint K]
                      [--headers a,b | --headers _all] [--follow]

Without --cursor, every partition 0..N is requested from "_first"; with
--cursor, only the partitions given are requested.

Without --follow, one request is made and every line received is printed in
order, one compact JSON object per line:
    event:      {"partition":P,"headers":{...},"data":...}   (no "headers" key
                when the event has none or an empty map)
    checkpoint: {"partition":P,"cursor":"..."}

With --follow, requests are repeated, each partition's cursor moving to the
last checkpoint received for it, and only events are printed; it stops after
the first response that holds no event (or fails after --max-requests).

A line for a partition that was not requested is reported as an error (the
reference client itself does not check this). On any error a one-line message
goes to stderr and the exit status is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, NoReturn

import httpx
from zeroeventhub import Client, Cursor, Event


class UsageError(Exception):
    pass


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def event_line(event: Event) -> str:
    obj: dict[str, Any] = {"partition": event.partition_id}
    if event.headers:
        obj["headers"] = event.headers
    obj["data"] = event.data
    return dumps(obj)


def checkpoint_line(cursor: Cursor) -> str:
    return dumps({"partition": cursor.partition_id, "cursor": cursor.cursor})


def parse_cursors(specs: list[str] | None, partition_count: int) -> dict[int, str]:
    if not specs:
        return {p: "_first" for p in range(partition_count)}
    cursors: dict[int, str] = {}
    for spec in specs:
        partition_text, sep, value = spec.partition("=")
        if not sep:
            raise UsageError(f"--cursor {spec!r}: expected P=C")
        try:
            partition = int(partition_text)
        except ValueError:
            raise UsageError(f"--cursor {spec!r}: partition is not an integer") from None
        if not 0 <= partition < partition_count:
            raise UsageError(f"--cursor {spec!r}: partition outside 0..{partition_count}")
        if partition in cursors:
            raise UsageError(f"--cursor {spec!r}: partition {partition} given twice")
        if not value:
            raise UsageError(f"--cursor {spec!r}: empty cursor")
        cursors[partition] = value
    return dict(sorted(cursors.items()))


def parse_headers(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [name for name in text.split(",") if name]
    return names or None


async def read_error_body(response: httpx.Response) -> None:
    """Response hook: load an error body before the client's raise_for_status()."""
    if response.status_code >= 400:
        await response.aread()


def describe(err: BaseException) -> str:
    if isinstance(err, httpx.HTTPStatusError):
        response = err.response
        try:
            body = response.text.strip()
        except httpx.ResponseNotRead:
            body = ""
        message = f"HTTP {response.status_code} {response.reason_phrase}"
        if body:
            message += f": {body}"
    else:
        message = f"{type(err).__name__}: {err}"
        cause = err.__cause__ or err.__context__
        if cause is not None and str(cause) and str(cause) not in message:
            message += f" ({type(cause).__name__}: {cause})"
    return " ".join(message.split())


async def run(args: argparse.Namespace) -> None:
    cursors = parse_cursors(args.cursor, args.partitions)
    headers = parse_headers(args.headers)
    out = sys.stdout
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(30.0),
        event_hooks={"response": [read_error_body]},
    ) as http_client:
        client = Client(args.url, args.partitions, http_client)
        requests = 0
        while True:
            requests += 1
            if requests > args.max_requests:
                raise RuntimeError(f"still receiving events after {args.max_requests} requests")
            request_cursors = [Cursor(p, c) for p, c in cursors.items()]
            saw_event = False
            async for item in client.fetch_events(request_cursors, args.page_size_hint, headers):
                if type(item.partition_id) is not int or item.partition_id not in cursors:
                    raise ValueError(
                        f"received a line for partition {item.partition_id!r}, "
                        f"which was not requested"
                    )
                if isinstance(item, Cursor):
                    if not args.follow:
                        out.write(checkpoint_line(item) + "\n")
                    cursors[item.partition_id] = item.cursor
                else:
                    saw_event = True
                    out.write(event_line(item) + "\n")
            out.flush()
            if not args.follow or not saw_event:
                return


class ArgumentParser(argparse.ArgumentParser):
    """Reports a usage error as one line on stderr with exit status 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {' '.join(message.split())}\n")


def main() -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="feed URL, e.g. http://127.0.0.1:8080/feed/v1")
    parser.add_argument("--partitions", required=True, type=int, help="partition count (n)")
    parser.add_argument("--cursor", action="append", metavar="P=C", help="start cursor")
    parser.add_argument("--page-size-hint", type=int, default=None, metavar="K")
    parser.add_argument("--headers", default=None, help="comma-separated names, or _all")
    parser.add_argument("--follow", action="store_true", help="repeat until no events")
    parser.add_argument("--max-requests", type=int, default=10000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        if args.partitions < 1:
            raise UsageError("--partitions must be at least 1")
        asyncio.run(run(args))
    except Exception as err:  # noqa: BLE001 - every failure is reported the same way
        sys.stdout.flush()
        print(f"error: {describe(err)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
