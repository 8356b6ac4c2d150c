#!/usr/bin/env python3
"""Python reference consumer for the benchmark suite: the `zeroeventhub`
package's `Client` over one `httpx.AsyncClient` (one keep-alive connection).

Usage: python consumer.py --url URL --events N --page-size K

Reads N events from `_first`, following checkpoints, in pages of K
(W1: one page of 100,000; W2: pages of 100), turning each event's data into
a dataclass, and prints one JSON line like the Rust `bench consume`: wall
seconds, events, requests, CPU seconds (user + system, of the timed part)
and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import httpx
from zeroeventhub import FIRST_CURSOR, Client, Cursor

from workload import PersonNameChanged, peak_rss_kib, run_event_loop


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


async def consume(url: str, events: int, page_size: int) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0)) as http:
        client = Client(url, 1, http)
        cursor = Cursor(0, FIRST_CURSOR)
        received = requests = 0
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        while received < events:
            requests += 1
            before_page = received
            async for item in client.fetch_events([cursor], page_size):
                if isinstance(item, Cursor):
                    cursor = item
                    continue
                data = PersonNameChanged.from_dict(item.data)
                received += 1
                if data.seq != received:
                    raise ValueError(f"event with seq {data.seq} where {received} was expected")
            if received == before_page:
                raise RuntimeError(f"the feed ended after {received} events, {events} expected")
        wall = time.perf_counter() - started
        cpu = cpu_seconds() - cpu_before
    return {
        "wall_s": wall,
        "events": received,
        "requests": requests,
        "data_bytes": None,
        "cpu_s": cpu,
        "peak_rss_kib": peak_rss_kib(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--page-size", type=int, required=True)
    args = parser.parse_args()
    report = run_event_loop(consume(args.url, args.events, args.page_size))
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
