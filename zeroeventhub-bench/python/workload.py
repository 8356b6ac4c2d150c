"""The benchmark workload (issue 5) as Python types, shared by producer.py and
consumer.py: one event type, built from a typed object per request."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

FEED_PATH = "/feed/v1"
WHEN = "2023-09-26T11:23:30.472906Z"


@dataclass(slots=True)
class PersonName:
    first_name: str
    surname: str

    def to_dict(self) -> dict[str, Any]:
        return {"first_name": self.first_name, "surname": self.surname}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PersonName:
        return cls(first_name=data["first_name"], surname=data["surname"])


@dataclass(slots=True)
class PersonNameChanged:
    id: str
    type: str
    seq: int
    when: str
    person_id: int
    new_name: PersonName

    @classmethod
    def at(cls, seq: int) -> PersonNameChanged:
        """The event at position `seq` (from 1), as a producer builds it from a row."""
        return cls(
            id=f"00000000-0000-4000-8000-{seq:012x}",
            type="PersonNameChanged",
            seq=seq,
            when=WHEN,
            person_id=seq,
            new_name=PersonName("Fred", "Bloggs"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "seq": self.seq,
            "when": self.when,
            "person_id": self.person_id,
            "new_name": self.new_name.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PersonNameChanged:
        return cls(
            id=data["id"],
            type=data["type"],
            seq=data["seq"],
            when=data["when"],
            person_id=data["person_id"],
            new_name=PersonName.from_dict(data["new_name"]),
        )


def peak_rss_kib() -> int:
    """VmHWM of this process, as the Rust side reads it."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_event_loop(main: Coroutine[Any, Any, Any]) -> Any:
    """Runs `main` on uvloop when it is installed (uvicorn[standard] brings it
    and `uvicorn.run` would use it), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
