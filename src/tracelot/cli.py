"""The ``tracelot`` command: serve, migrate, demo, tokens, CSV export and import."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from tracelot.db.engine import make_engine, make_sessionmaker, transaction
from tracelot.domain.errors import TracelotError
from tracelot.settings import get_settings

app = typer.Typer(help="tracelot: batch and serial traceability.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
export_app = typer.Typer(help="Export tracking records as CSV.", no_args_is_help=True)
import_app = typer.Typer(
    help="Import tracking records from CSV (all or nothing).", no_args_is_help=True
)
app.add_typer(token_app, name="token")
app.add_typer(export_app, name="export")
app.add_typer(import_app, name="import")
console = Console()
err = Console(stderr=True)


def _sessions(read_only: bool = False):  # type: ignore[no-untyped-def]
    """``read_only`` for the reports: on SQLite they then leave the write lock to the
    server's writers (a recall from the command line no longer holds up sales)."""
    return make_sessionmaker(make_engine(get_settings().database_url), read_only=read_only)


def _fail(exc: TracelotError) -> None:
    err.print(f"error: {exc.message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from tracelot.db.migrate import upgrade

    upgrade(get_settings().database_url)
    console.print("database is up to date")


@app.command()
def demo(
    if_empty: Annotated[bool, typer.Option(help="Only when the database is empty.")] = False,
) -> None:
    """Load demo data: items of each tracking mode, stock with batches and serials."""
    from tracelot.services import demo as demo_data

    with transaction(_sessions()) as s:
        if if_empty and not demo_data.is_empty(s):
            console.print("database has data; demo not loaded")
            return
        demo_data.load(s)
    console.print("demo data loaded")


@token_app.command("create")
def token_create(name: Annotated[str, typer.Option(help="Who the token is for.")] = "api") -> None:
    """Create an API token and print it (it is shown only once)."""
    from tracelot.services.auth import create_token

    with transaction(_sessions()) as s:
        token = create_token(s, name)
    print(token)


user_app = typer.Typer(help="Web app users.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("create")
def user_create(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Create a user who signs in to the web app (password hashed with argon2)."""
    from tracelot.services.users import create_user

    try:
        with transaction(_sessions()) as s:
            create_user(s, name, password)
    except TracelotError as exc:
        _fail(exc)
    console.print(f"user '{name}' created")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the web app and the API; prints the URL and a fresh API token."""
    import uvicorn

    from tracelot.services import users
    from tracelot.services.auth import create_token

    with transaction(_sessions()) as s:
        token = create_token(s, "serve")
        demo_user = users.authenticate(s, users.DEMO_USERNAME, users.DEMO_PASSWORD)
    console.print(f"tracelot at http://{host}:{port}  (API: http://{host}:{port}/v1)")
    if demo_user:
        console.print(f"web sign-in: {users.DEMO_USERNAME} / {users.DEMO_PASSWORD}")
    console.print(f"API token: {token}", highlight=False)
    uvicorn.run("tracelot.api.asgi:app", host=host, port=port, workers=workers, log_level="info")


@export_app.command("tracking")
def export_tracking(
    item: Annotated[int, typer.Option(help="Item id.")],
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Every batch/serial record of an item and its history, as CSV."""
    from tracelot.services import catalog, exports

    try:
        with transaction(_sessions(read_only=True)) as s:
            content, _ = exports.tracking_csv(s, catalog.get_item(s, item))
    except TracelotError as exc:
        _fail(exc)
    if output:
        output.write_text(content)
    else:
        sys.stdout.write(content)


def _import(kind: str, file: Path) -> None:
    from tracelot.services import imports

    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        err.print(f"error: cannot read {file}: {exc.strerror}")
        raise typer.Exit(1) from None
    fn = imports.import_serials if kind == "serials" else imports.import_batches
    total = max(0, text.count("\n") - 1)
    try:
        with Progress(console=err, transient=True) as bar, transaction(_sessions()) as s:
            task = bar.add_task(f"checking {kind}", total=total or None)
            count = fn(s, text, "cli", progress=lambda n: bar.advance(task, n))
    except TracelotError as exc:
        _fail(exc)
    console.print(f"imported {count} {kind} rows")


@import_app.command("serials")
def import_serials(file: Path) -> None:
    """CSV with sku, serial_number, location: fills serial gaps first, then adds stock."""
    _import("serials", file)


@import_app.command("batches")
def import_batches(file: Path) -> None:
    """CSV with sku, batch_number, expiration_date, batch_barcode, location, quantity."""
    _import("batches", file)


@import_app.command("orders")
def import_orders(
    file: Path,
    channel: Annotated[str, typer.Option(help="shopify, woocommerce or generic.")] = "generic",
) -> None:
    """A JSON file of store orders (array, {"orders": [...]}, or JSON lines); all or nothing."""
    from tracelot.services import ecommerce

    try:
        payloads = ecommerce.read_orders_file(file.read_text(encoding="utf-8-sig"))
        with transaction(_sessions()) as s:
            created, existing = ecommerce.import_many(s, channel, payloads, "cli")
    except OSError as exc:
        err.print(f"error: cannot read {file}: {exc.strerror}")
        raise typer.Exit(1) from None
    except TracelotError as exc:
        _fail(exc)
    console.print(f"imported {created} orders ({existing} already imported)")


REPORT_FORMATS = ("csv", "xlsx", "json")


def _report_format(fmt: str) -> str:
    """The recall and FSMA 204 formats, refused (one line, exit 1) before any work."""
    if fmt not in REPORT_FORMATS:
        _fail(
            TracelotError(
                "VALIDATION_FAILED",
                f"Unknown --format '{fmt}': use {', '.join(REPORT_FORMATS[:-1])} "
                f"or {REPORT_FORMATS[-1]}.",
            )
        )
    return fmt


@app.command()
def recall(
    numbers: Annotated[list[str], typer.Argument(help="Batch or serial numbers.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, xlsx or json.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Recall report: affected customers, stock on hand, mass balance (issue 5)."""
    from tracelot.services import recall as rc

    fmt = _report_format(fmt)
    try:
        with transaction(_sessions(read_only=True)) as s:
            batch_ids, serial_ids = rc.find_starts(s, numbers)
            report = rc.report(s, batch_ids, serial_ids)
            content = rc.render(s, report, fmt)
    except TracelotError as exc:
        _fail(exc)
    err.print(report["summary"], f"({report['elapsed_ms']} ms)", highlight=False)
    if output:
        output.write_bytes(content if isinstance(content, bytes) else content.encode())
    elif isinstance(content, bytes):
        _fail(TracelotError("VALIDATION_FAILED", "XLSX needs --output FILE."))
    else:
        sys.stdout.write(content)


@app.command()
def fsma204(
    lots: Annotated[list[str] | None, typer.Argument(help="Lot codes or serials.")] = None,
    variant_id: Annotated[int | None, typer.Option("--variant-id")] = None,
    start: Annotated[str | None, typer.Option("--from", help="ISO date(-time).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO date(-time).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, xlsx or json.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """FDA FSMA 204 sortable spreadsheet for lot codes and/or a product and dates (issue 5)."""
    from tracelot.standards import fsma204 as fs

    fmt = _report_format(fmt)
    try:
        since, until = fs.bound(start, "from"), fs.bound(end, "to", end=True)
        with transaction(_sessions(read_only=True)) as s:
            content = fs.render(fs.rows(s, variant_id, since, until, lots or None), fmt)
    except TracelotError as exc:
        _fail(exc)
    if output:
        output.write_bytes(content if isinstance(content, bytes) else content.encode())
    elif isinstance(content, bytes):
        _fail(TracelotError("VALIDATION_FAILED", "XLSX needs --output FILE."))
    else:
        sys.stdout.write(content)


if __name__ == "__main__":
    app()
