"""Labels for a batch or serial: GS1 DataMatrix, GS1-128, Digital Link QR; PNG/SVG/PDF/ZPL.

Pure-Python encoders only (pystrich for DataMatrix and Code 128 with FNC1,
segno for QR, reportlab for PDF), so no system packages are needed. ZPL is
text for Zebra printers, which draw the symbol themselves.
"""

from __future__ import annotations

import io

from tracelot.standards import gs1

SYMBOLOGIES = ("datamatrix", "gs1_128", "qr")
FORMATS = ("png", "svg", "pdf", "zpl")


def _fields(pairs: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    from pystrich.gs1 import GS1Fixed, GS1Variable

    return [GS1Variable(ai, v) if ai in gs1.VARIABLE_AIS else GS1Fixed(ai, v) for ai, v in pairs]


def _encoder(symbology: str, pairs: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    if symbology == "datamatrix":
        from pystrich.datamatrix import DataMatrixData, DataMatrixEncoder

        return DataMatrixEncoder(DataMatrixData.gs1(*_fields(pairs)))
    if symbology == "gs1_128":
        from pystrich.code128 import Code128Data, Code128Encoder

        return Code128Encoder(Code128Data.gs1(*_fields(pairs)))
    raise ValueError(symbology)


def png(symbology: str, pairs: list[tuple[str, str]]) -> bytes:
    if symbology == "qr":
        buf = io.BytesIO()
        _qr(pairs).save(buf, kind="png", scale=6, border=4)
        return buf.getvalue()
    enc = _encoder(symbology, pairs)
    return (
        enc.get_imagedata(cellsize=6)
        if symbology == "datamatrix"
        else enc.get_imagedata(bar_width=3)
    )


def svg(symbology: str, pairs: list[tuple[str, str]]) -> str:
    if symbology == "qr":
        buf = io.BytesIO()
        _qr(pairs).save(buf, kind="svg", scale=6, border=4)
        return buf.getvalue().decode()
    return str(_encoder(symbology, pairs).get_svg())


def _qr(pairs: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    import segno

    return segno.make(gs1.digital_link(pairs), error="m")


def pdf(symbology: str, pairs: list[tuple[str, str]], title: str) -> bytes:
    """A 100 x 60 mm label: the symbol and its human-readable text."""
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(100 * mm, 60 * mm))
    image = ImageReader(io.BytesIO(png(symbology, pairs)))
    w, h = image.getSize()
    scale = min(90 * mm / w, 38 * mm / h)
    c.drawImage(image, 5 * mm, 18 * mm, w * scale, h * scale)
    c.setFont("Helvetica-Bold", 9)
    c.drawString(5 * mm, 11 * mm, title[:60])
    c.setFont("Helvetica", 8)
    c.drawString(5 * mm, 5 * mm, gs1.hri(pairs))
    c.showPage()
    c.save()
    return buf.getvalue()


def zpl(symbology: str, pairs: list[tuple[str, str]], title: str) -> str:
    """ZPL II: ^BX (DataMatrix, GS1 via FNC1 '_1'), ^BC (Code 128, >8 = FNC1), ^BQ (QR)."""
    if symbology == "datamatrix":
        data = "_1" + "_1".join(_segments(pairs))
        code = f"^FO40,40^BXN,8,200,,,,_^FD{data}^FS"
    elif symbology == "gs1_128":
        data = ">8" + ">8".join(_segments(pairs))
        code = f"^FO40,40^BY2^BCN,120,N,N,N^FD{data}^FS"
    else:
        code = f"^FO40,40^BQN,2,6^FDMA,{gs1.digital_link(pairs)}^FS"
    text = gs1.hri(pairs).replace("^", "").replace("~", "")
    return (
        "^XA^CI28\n" + code + f"\n^FO40,300^A0N,28,28^FD{title[:60]}^FS\n"
        f"^FO40,340^A0N,24,24^FD{text}^FS\n^XZ\n"
    )


def _segments(pairs: list[tuple[str, str]]) -> list[str]:
    """Element strings, an FNC1 separator needed only after a variable-length field."""
    out, current = [], ""
    for ai, value in pairs:
        current += ai + value
        if ai in gs1.VARIABLE_AIS:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return out
