"""The trace picture: where a batch/serial came from and where it went, as server SVG.

Columns left to right: origins (receipts), ingredients (backward levels),
the traced lot, products made from it (forward levels), and shipments
(customers). Each box links to its page; lines follow the genealogy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

BOX_W, BOX_H, COL_W, ROW_H, PAD = 170, 44, 210, 56, 10


@dataclass
class Box:
    key: str
    col: int
    title: str
    sub: str
    href: str | None
    row: int = 0


def _node_key(n: dict[str, Any]) -> str:
    return f"b{n['batch_id']}" if n["kind"] == "batch" else f"s{n['serial_number_id']}"


def _key(batch_id: int | None, serial_id: int | None) -> str:
    return f"b{batch_id}" if batch_id else f"s{serial_id}"


def _node_box(n: dict[str, Any], col: int) -> Box:
    if n["kind"] == "batch":
        return Box(
            _node_key(n), col, n["batch_number"], n["sku"], f"/stock/batches/{n['batch_id']}"
        )
    return Box(
        _node_key(n), col, n["serial_number"], n["sku"], f"/stock/serials/{n['serial_number_id']}"
    )


def _event_box(e: dict[str, Any], col: int, i: int, forward: bool) -> Box:
    party = e.get("customer") or e.get("supplier") or e.get("location") or ""
    doc = e.get("order_no") or e.get("document") or e.get("resource_type", "")
    qty = f"{e['quantity'].normalize():f}" if e.get("quantity") is not None else ""
    return Box(f"e{col}-{i}", col, str(doc), f"{party} · {qty}".strip(" ·"), None)


def boxes_and_lines(forward: Any, backward: Any) -> tuple[list[Box], list[tuple[str, str]]]:
    """Lay out the two traces around the start nodes (level 0 in both)."""
    depth_b = max([n["level"] for n in backward.nodes] or [0])
    boxes: dict[str, Box] = {}
    for n in backward.nodes:
        boxes.setdefault(_node_key(n), _node_box(n, 1 + depth_b - n["level"]))
    for n in forward.nodes:
        boxes.setdefault(_node_key(n), _node_box(n, 1 + depth_b + n["level"]))
    last = max([b.col for b in boxes.values()] or [1])
    lines: list[tuple[str, str]] = []
    for link in forward.links + backward.links:
        src = _key(link["input_batch_id"], link["input_serial_id"])
        dst = _key(link["output_batch_id"], link["output_serial_id"])
        if src in boxes and dst in boxes and (src, dst) not in lines:
            lines.append((src, dst))
    for i, e in enumerate(backward.events):
        box = _event_box(e, 0, i, False)
        boxes[box.key] = box
        lines += [(box.key, k) for k in _event_targets(e, boxes)]
    for i, e in enumerate(forward.events):
        box = _event_box(e, last + 1, i, True)
        boxes[box.key] = box
        lines += [(k, box.key) for k in _event_targets(e, boxes)]
    return list(boxes.values()), lines


def _event_targets(e: dict[str, Any], boxes: dict[str, Box]) -> list[str]:
    if e.get("batch_id"):
        return [f"b{e['batch_id']}"] if f"b{e['batch_id']}" in boxes else []
    wanted = set(e.get("serial_numbers") or [])
    return [k for k, b in boxes.items() if k.startswith("s") and b.title in wanted]


def render(forward: Any, backward: Any) -> Markup:
    boxes, lines = boxes_and_lines(forward, backward)
    rows: dict[int, int] = {}
    for b in boxes:
        b.row = rows.get(b.col, 0)
        rows[b.col] = b.row + 1
    cols = sorted({b.col for b in boxes})
    x_of = {c: PAD + i * COL_W for i, c in enumerate(cols)}
    width = PAD * 2 + len(cols) * COL_W
    height = PAD * 2 + max(rows.values() or [1]) * ROW_H
    at = {b.key: (x_of[b.col], PAD + b.row * ROW_H) for b in boxes}
    parts = [
        f'<svg class="trace" role="img" aria-label="Trace picture" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for src, dst in lines:
        (x1, y1), (x2, y2) = at[src], at[dst]
        parts.append(
            f'<line x1="{x1 + BOX_W}" y1="{y1 + BOX_H / 2}" x2="{x2}" '
            f'y2="{y2 + BOX_H / 2}" class="edge"/>'
        )
    for b in boxes:
        x, y = at[b.key]
        kind = "event" if b.key.startswith("e") else "node"
        inner = (
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'class="{kind}"/><text x="{x + 8}" y="{y + 18}" class="t1">'
            f'{escape(b.title[:24])}</text><text x="{x + 8}" y="{y + 35}" '
            f'class="t2">{escape(b.sub[:28])}</text>'
        )
        parts.append(f'<a href="{b.href}">{inner}</a>' if b.href else inner)
    parts.append("</svg>")
    return Markup("".join(parts))
