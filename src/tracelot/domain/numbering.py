"""Serial and batch number patterns such as ``SN-{YYYY}-{seq:06}``.

A pattern is literal text with placeholders: ``{YYYY}``, ``{YY}``, ``{MM}``,
``{DD}`` (the date of production or receipt), ``{SKU}`` and exactly one
``{seq}`` or ``{seq:0N}`` (a sequence number, zero-padded to N digits). The
sequence counts per *series*: the pattern with everything but ``{seq}`` filled
in, so ``SN-{YYYY}-{seq:06}`` starts again at 1 each year. Pure: the counter
itself lives in the database (services/numbering.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from tracelot.domain import errors

DEFAULT_PATTERN = "SN-{YYYY}-{seq:06}"
_TOKEN = re.compile(r"\{([A-Za-z]+)(?::([^{}]*))?\}")
_DATE_TOKENS = {"YYYY": "%Y", "YY": "%y", "MM": "%m", "DD": "%d"}
_SEQ_SPEC = re.compile(r"^0?\d{0,2}$")


@dataclass(frozen=True)
class Series:
    """A pattern filled in for one date and SKU: only the sequence number varies."""

    prefix: str
    suffix: str
    width: int

    @property
    def key(self) -> str:
        """What the counter is keyed by (together with the item)."""
        return f"{self.prefix}{{seq}}{self.suffix}"

    def number(self, seq: int) -> str:
        return f"{self.prefix}{seq:0{self.width}d}{self.suffix}"

    def numbers(self, first: int, count: int) -> list[str]:
        return [self.number(n) for n in range(first, first + count)]


def problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot number serials, or None when it can."""
    tokens = _TOKEN.findall(pattern)
    seqs = [t for t in tokens if t[0] == "seq"]
    if len(seqs) != 1:
        return (
            f"Pattern '{pattern}' needs exactly one {{seq}} placeholder (e.g. "
            "SN-{YYYY}-{seq:06})."
        )
    unknown = [
        name for name, _ in tokens if name != "seq" and name not in _DATE_TOKENS and name != "SKU"
    ]
    if unknown:
        return (
            f"Pattern '{pattern}' has an unknown placeholder {{{unknown[0]}}}; use "
            "{YYYY}, {YY}, {MM}, {DD}, {SKU} and {seq:0N}."
        )
    if not _SEQ_SPEC.match(seqs[0][1]):
        return f"Pattern '{pattern}': write the sequence as {{seq}} or {{seq:06}}."
    return None


def series(pattern: str | None, when: date, sku: str | None = None) -> Series:
    """Fill in everything but the sequence; refuses a pattern that cannot work."""
    pattern = pattern or DEFAULT_PATTERN
    why = problem(pattern)
    if why:
        raise errors.refuse(errors.VALIDATION_FAILED, why, path="serial_pattern")
    out, width, prefix = [], 0, None
    pos = 0
    for m in _TOKEN.finditer(pattern):
        out.append(pattern[pos : m.start()])
        name, spec = m.group(1), m.group(2) or ""
        if name == "seq":
            prefix, out, width = "".join(out), [], int(spec or 0)
        elif name == "SKU":
            out.append(sku or "")
        else:
            out.append(when.strftime(_DATE_TOKENS[name]))
        pos = m.end()
    out.append(pattern[pos:])
    return Series(prefix or "", "".join(out), width)
