"""What a serial number may look like, and fast entry of many (ranges, pastes)."""

from __future__ import annotations

import re
from collections import Counter

from tracelot.domain import errors
from tracelot.domain.errors import Detail

MAX_LENGTH = 32
# Used with fullmatch: ``$`` would also match before a trailing newline.
_ALLOWED = re.compile(r"[A-Za-z0-9 \-_/,.]+")
_RANGE = re.compile(r"(?P<prefix>.*?)(?P<start>\d+)\.\.(?P=prefix)?(?P<end>\d+)")
MAX_RANGE = 100_000


def problem(number: str) -> str | None:
    """Why ``number`` is not a valid serial, or None when it is."""
    if not number or not number.strip():
        return "A serial number cannot be empty."
    if len(number) > MAX_LENGTH:
        return (
            f"Serial number '{number[:40]}' has {len(number)} characters; "
            f"at most {MAX_LENGTH} are allowed."
        )
    if not _ALLOWED.fullmatch(number):
        bad = sorted({c for c in number if not _ALLOWED.fullmatch(c)})
        return (
            f"Serial number '{number}' contains {''.join(bad)!r}; only letters, digits, "
            "space and - _ / , . are allowed."
        )
    return None


def validate(numbers: list[str], path: str = "serial_numbers") -> list[str]:
    """Check every number and refuse the lot, naming each bad one, repeats included."""
    details = [
        Detail(f"{path}[{i}]", errors.INVALID_SERIAL, msg, {"serial_number": n})
        for i, n in enumerate(numbers)
        if (msg := problem(n))
    ]
    counts = Counter(numbers)
    seen: set[str] = set()
    for i, n in enumerate(numbers):
        if counts[n] > 1 and n in seen:
            details.append(
                Detail(
                    f"{path}[{i}]",
                    errors.DUPLICATE,
                    f"Serial number '{n}' is given more than once.",
                    {"serial_number": n},
                )
            )
        seen.add(n)
    if details:
        raise errors.refuse_many(details)
    return numbers


def expand(entries: list[str]) -> list[str]:
    """Expand ranges like ``SN-001..SN-050`` (or ``SN-001..050``), keeping zero padding."""
    out: list[str] = []
    for entry in entries:
        entry = entry.strip()
        m = _RANGE.fullmatch(entry)
        if not m:
            out.append(entry)
            continue
        start, end = m["start"], m["end"]
        lo, hi = int(start), int(end)
        if hi < lo or hi - lo >= MAX_RANGE:
            raise errors.refuse(
                errors.INVALID_SERIAL,
                f"Range '{entry}' must go upwards and hold at most {MAX_RANGE} numbers.",
                path="serial_numbers",
            )
        width = len(start)
        out.extend(f"{m['prefix']}{n:0{width}d}" for n in range(lo, hi + 1))
    return out


def split_paste(text: str) -> list[str]:
    """Split what a user pasted or scanned (newlines, tabs, semicolons) into entries."""
    return [p.strip() for p in re.split(r"[\r\n\t;]+", text) if p.strip()]
