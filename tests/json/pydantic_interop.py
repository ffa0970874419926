"""The other side of the wire is real: pydantic v2 writes events, JsonEventSerializer
(json_interop) reads them and writes them again, and pydantic validates what it wrote back to
the same values. Where both sides spell every value the same (UTC timestamps, every float),
the bytes must be equal too: 3,000 random doubles are compared with pydantic byte for byte.

    python3 pydantic_interop.py <path to json_interop> <scratch dir>
"""
import math
import random
import struct
import subprocess
import sys
from dataclasses import field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional
from uuid import UUID, uuid4

from pydantic import TypeAdapter
from pydantic.dataclasses import dataclass


@dataclass(frozen=True)
class AbstractIntegrationEvent:  # spakky-event's base: an id and an aware UTC timestamp
    event_id: UUID = field(default_factory=uuid4)
    timestamp: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass(frozen=True)
class Address:
    city: str
    zip_code: str


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(AbstractIntegrationEvent):
    order_id: str
    amount: float
    quantity: int
    express: bool
    address: Address
    tags: list[str]
    coupon: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class Shipment(AbstractIntegrationEvent):
    count: int
    ratio: float
    grid: list[list[int]]
    stock: dict[str, int]
    origin: Optional[Address] = None
    stops: list[Address]
    parent_event: UUID
    shipped_at: datetime


ADAPTERS = {"OrderPlaced": TypeAdapter(OrderPlaced), "orders.shipment": TypeAdapter(Shipment)}
UTC = timezone.utc
KST = timezone(timedelta(hours=9))
IST = timezone(timedelta(hours=-5, minutes=-30))

# (name, event, bytes_must_match)
CASES = [
    ("OrderPlaced", OrderPlaced(event_id=UUID("0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f"),
                                timestamp=datetime(2026, 11, 26, 10, 50, 57, 123456, tzinfo=UTC),
                                order_id="o-1", amount=12.5, quantity=3, express=True,
                                address=Address("Seoul", "04524"), tags=["gift", "é"]), True),
    ("OrderPlaced", OrderPlaced(order_id='a"b\\c\nd\te\x01\x1f\x7f/é한😀\u2028', amount=-0.25, quantity=-5,
                                express=False, address=Address("", ""), tags=[], coupon="SAVE10"), True),
    ("OrderPlaced", OrderPlaced(timestamp=datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), order_id="x",
                                amount=123456789.125, quantity=2147483647, express=True,
                                address=Address("Busan", "48058"), tags=["a", "b", "c"], coupon=None), True),
    ("OrderPlaced", OrderPlaced(order_id="floats", amount=0.1, quantity=-2147483648, express=True,
                                address=Address("A", "1"), tags=["x"] * 3), True),
    # Floats nlohmann spelled otherwise (1e-07, 1e+16): written as pydantic writes them.
    ("OrderPlaced", OrderPlaced(order_id="small", amount=1e-7, quantity=0, express=False,
                                address=Address("A", "1"), tags=[]), True),
    ("OrderPlaced", OrderPlaced(order_id="big", amount=1e16, quantity=0, express=False,
                                address=Address("A", "1"), tags=[]), True),
    # Offsets other than UTC: converted to UTC on our side, the same instant for pydantic.
    ("OrderPlaced", OrderPlaced(timestamp=datetime(2026, 11, 26, 19, 50, 57, 5, tzinfo=KST), order_id="kst",
                                amount=1.0, quantity=1, express=True, address=Address("A", "1"), tags=[]), False),
    ("OrderPlaced", OrderPlaced(timestamp=datetime(2026, 1, 1, 0, 0, 0, tzinfo=IST), order_id="ist",
                                amount=2.0, quantity=1, express=True, address=Address("A", "1"), tags=[]), False),
    ("orders.shipment", Shipment(timestamp=datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC),
                                 count=-9223372036854775808, ratio=0.5, grid=[[1, 2], [], [-3]],
                                 stock={"a": 1, "b": 2}, origin=Address("Seoul", "04524"),
                                 stops=[Address("A", "1"), Address("B", "2")], parent_event=uuid4(),
                                 shipped_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)), True),
    # A dict keeps insertion order: so does OrderedMap, byte for byte.
    ("orders.shipment", Shipment(timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), count=1, ratio=2.5, grid=[],
                                 stock={"z": 1, "a": 2, "m": 3}, stops=[], parent_event=uuid4(),
                                 shipped_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)), True),
    ("orders.shipment", Shipment(count=9223372036854775807, ratio=-1.5, grid=[], stock={}, stops=[],
                                 parent_event=uuid4(), shipped_at=datetime(2030, 6, 1, 12, 0, tzinfo=KST)), False),
]


def random_doubles(count: int, seed: int) -> list[float]:
    """Finite doubles from random bit patterns, and the layouts' edges."""
    generator = random.Random(seed)
    values = [1e-9, 1.5e-7, 0.00001, 1e15, 2.9802322387695312e-8, 0.0, -0.0, 5e-324, 1.7976931348623157e308,
              1e16, 1e-5, 1e-6, 123456789012345680.0, 0.1, 1 / 3]
    while len(values) < count:
        value = struct.unpack("<d", generator.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(value):
            values.append(value)
    return values


# Floats compared with pydantic directly, byte for byte.
CASES += [("OrderPlaced", OrderPlaced(order_id="f", amount=value, quantity=0, express=False,
                                      address=Address("A", "1"), tags=[]), True)
          for value in random_doubles(3000, 20261126)]


def main() -> int:
    program, scratch = sys.argv[1], Path(sys.argv[2])
    scratch.mkdir(parents=True, exist_ok=True)
    written = scratch / "pydantic.txt"
    read_back = scratch / "spakky.txt"
    payloads = [ADAPTERS[name].dump_json(event) for name, event, _ in CASES]
    with written.open("wb") as f:
        for (name, _, _), payload in zip(CASES, payloads):
            f.write(name.encode() + b"\t" + payload + b"\n")
    subprocess.run([program, str(written), str(read_back)], check=True)

    lines = read_back.read_bytes().split(b"\n")[:-1]
    if len(lines) != len(CASES):
        print(f"expected {len(CASES)} events back, got {len(lines)}")
        return 1
    failures = 0
    for i, ((name, event, same_bytes), ours, line) in enumerate(zip(CASES, payloads, lines)):
        got_name, _, payload = line.partition(b"\t")
        back = ADAPTERS[name].validate_json(payload)  # raises if pydantic cannot read ours
        problems = []
        if got_name.decode() != name:
            problems.append(f"name {got_name!r}")
        if back != event:  # aware datetimes compare as instants
            problems.append(f"values differ:\n    sent {event}\n    back {back}")
        if same_bytes and payload != ours:
            problems.append(f"bytes differ:\n    pydantic {ours!r}\n    spakky   {payload!r}")
        if problems or i < 12:
            status = "ok" if not problems else "FAILED"
            print(f"case {i} ({name}): {status}")
        for problem in problems:
            print("  " + problem)
        failures += bool(problems)
    print(f"pydantic interop: {len(CASES) - failures} of {len(CASES)} cases agree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
