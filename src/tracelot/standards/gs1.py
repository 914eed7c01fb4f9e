"""GS1 scans and element strings: what a scanned barcode or Digital Link names.

``interpret`` accepts every form a scanner or a person produces (symbology
identifier with FNC1/GS separators, the bracketed human-readable form, a
Digital Link URI, or a bare GTIN) and returns the GTIN, batch, serial and
expiry it carries. In a raw scan (element strings with FNC1/GS separators) a
variable-length field (batch, serial) that ends the scan with no separator
after it, and whose content itself reads as more element strings, almost
always means a missing separator: we report that as a warning instead of
trusting the value. The bracketed form, a Digital Link URI and a field
followed by a separator delimit every value, so there is nothing to doubt.
Pure functions, no database: lookups live in the scan route.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from urllib.parse import quote

from biip import ParseError, parse
from biip.gs1_messages import GS1Message

GS = "\x1d"
VARIABLE_AIS = ("10", "21")  # batch/lot, serial: the fields that can swallow what follows


@dataclass
class Scan:
    """What one scan says; ``warnings`` explain anything doubtful."""

    raw: str
    gtin: str | None = None
    batch_number: str | None = None
    serial_number: str | None = None
    expiration_date: date | None = None
    element_strings: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


def gtin14(value: str | None) -> str | None:
    """GTIN-8/12/13/14 as the 14-digit form used in element strings and URIs."""
    if not value:
        return None
    digits = value.strip()
    return digits.zfill(14) if digits.isdigit() and len(digits) in (8, 12, 13, 14) else None


def gtin_forms(value: str) -> list[str]:
    """Every stored spelling of one GTIN (14, 13, 12 and 8 digits), for lookups."""
    g = gtin14(value)
    if g is None:
        return []
    return sorted({g, g[1:], g[2:], g[6:]} if g.startswith("000000") else {g, g[1:], g[2:]})


def interpret(raw: str) -> Scan:
    scan = Scan(raw=raw)
    # Only blanks are trimmed here: a trailing GS is a separator that closes the last field.
    text = raw.strip(" \t\r\n").replace("<GS>", GS).replace("{GS}", GS)
    found = _elements(text, scan)
    if found is None:
        return scan
    elements, open_end = found
    scan.element_strings = elements
    scan.gtin = gtin14(elements.get("01") or elements.get("02"))
    scan.batch_number = elements.get("10")
    scan.serial_number = elements.get("21")
    scan.expiration_date = _yymmdd(elements.get("17"))
    if open_end is not None:
        scan.warnings += _swallow_warning(open_end, elements[open_end])
    return scan


def _elements(text: str, scan: Scan) -> tuple[dict[str, str], str | None] | None:
    """The scan's element strings, and the AI of a variable-length field that ends a raw
    scan with no separator after it (the only field that can have swallowed others)."""
    try:
        if text.startswith("("):
            message = GS1Message.parse_hri(text)
            return {e.ai.ai: e.value for e in message.element_strings}, None
        result = parse(text.strip())
    except ParseError as exc:
        scan.error = str(exc)
        return None
    if result.gs1_message is not None:
        strings = result.gs1_message.element_strings
        last = strings[-1].ai.ai if strings else None
        open_end = last if last in VARIABLE_AIS and not text.endswith(GS) else None
        return {e.ai.ai: e.value for e in strings}, open_end
    if result.gs1_digital_link_uri is not None:
        return {e.ai.ai: e.value for e in result.gs1_digital_link_uri.element_strings}, None
    if result.gtin is not None:
        return {"01": result.gtin.as_gtin_14()}, None
    scan.error = (
        "Not a GS1 barcode: expected element strings such as "
        "(01)09506000134352(10)ABC123, a Digital Link URI or a GTIN."
    )
    return None


def _swallow_warning(ai: str, value: str) -> list[str]:
    """A tail of the value that parses as complete element strings was probably meant so."""
    for start in range(1, len(value) - 3):
        tail = value[start:]
        try:
            message = GS1Message.parse(tail)
        except ParseError:
            continue
        if message.element_strings and any(
            not e.ai.separator_required for e in message.element_strings
        ):
            hri = message.as_hri()
            return [
                f"Field ({ai}) '{value}' probably swallowed {hri}: the scan lacks the "
                f"FNC1/GS separator after ({ai}) '{value[:start]}'. Check the label or "
                "the scanner's GS setting; the value was not trusted."
            ]
    return []


def _yymmdd(value: str | None) -> date | None:
    """GS1 dates: YY within -49..+50 years of today; day 00 means the month's end."""
    if not value or len(value) != 6 or not value.isdigit():
        return None
    yy, mm, dd = int(value[:2]), int(value[2:4]), int(value[4:])
    this = date.today().year
    year = this - this % 100 + yy
    if year - this > 50:
        year -= 100
    elif this - year > 49:
        year += 100
    if dd == 0:
        from calendar import monthrange

        dd = monthrange(year, mm)[1]
    try:
        return date(year, mm, dd)
    except ValueError:
        return None


def element_string(
    gtin: str | None,
    batch: str | None = None,
    serial: str | None = None,
    expiry: date | None = None,
) -> list[tuple[str, str]]:
    """(AI, value) pairs in the order labels print them: fixed-length fields first."""
    pairs: list[tuple[str, str]] = []
    if gtin14(gtin):
        pairs.append(("01", gtin14(gtin) or ""))
    if expiry:
        pairs.append(("17", expiry.strftime("%y%m%d")))
    if batch:
        pairs.append(("10", batch))
    if serial:
        pairs.append(("21", serial))
    return pairs


def hri(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"({ai}){value}" for ai, value in pairs)


def digital_link(pairs: list[tuple[str, str]], base: str = "https://id.gs1.org") -> str:
    """GS1 Digital Link URI: GTIN with batch/serial in the path, expiry as a query."""
    keys = dict(pairs)
    if "01" not in keys:
        raise ValueError("A Digital Link URI needs a GTIN (01).")
    path = f"{base.rstrip('/')}/01/{keys['01']}"
    for ai in ("10", "21"):
        if ai in keys:
            path += f"/{ai}/{quote(keys[ai], safe='')}"
    return path + (f"?17={keys['17']}" if "17" in keys else "")
