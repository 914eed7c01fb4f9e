"""N+1 guards for the read paths of traceability (issue 6): statements are counted on the
engine, never timed. A trace, a recall and a serial's history must issue the same number of
statements however many nodes they reach or steps they list: a loop that queries per
reached lot, serial, shipment, customer or step shows up as growth.
"""

from __future__ import annotations

from support.statements import counting
from support.trace_scenario import _produce, _sell, build
from support.world import World, check_ledger
from tracelot.services import recall, tracing, transfers


def _read_paths(w: World, engine, lot: int, final: int) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    counts: dict[str, list[str]] = {}
    with w.tx() as s:
        for name, call in (
            ("forward", lambda: tracing.trace(s, [tracing.Node(batch_id=lot)], "forward")),
            ("backward", lambda: tracing.trace(s, [tracing.Node(serial_id=final)], "backward")),
            ("recall", lambda: recall.report(s, batch_ids=[lot])),
        ):
            with counting(engine) as statements:
                call()
            counts[name] = statements
    return counts


def test_trace_and_recall_statements_do_not_grow_with_the_reached_nodes(engine, sessions):
    w = World(sessions).setup()
    sc = build(w)
    fin = sc.finals["FIN-1"]
    # more of the lot, for the products below (an origin of the lot from the start)
    w.adjust(
        [
            {
                "variant_id": sc.resin,
                "quantity": 24,
                "batch_transactions": [{"batch_id": sc.lot, "quantity": 24}],
            }
        ]
    )
    small = _read_paths(w, engine, sc.lot, fin)
    reached_before = len(_forward_nodes(w, sc.lot))
    # Three times the products made from the lot, each shipped to a new customer.
    for n in range(6, 18):
        sub = _produce(w, sc.board, f"SUB-{n}", sc.resin, [{"batch_id": sc.lot, "quantity": 2}], 2)
        final = _produce(w, sc.gadget, f"FIN-{n}", sc.board, [{"serial_number_id": sub}], 1)
        _sell(w, sc.gadget, f"Customer {n}", [final])
    assert len(_forward_nodes(w, sc.lot)) >= reached_before + 24
    large = _read_paths(w, engine, sc.lot, fin)
    for name in small:
        assert len(large[name]) == len(small[name]), (name, large[name])
    assert len(large["forward"]) <= 12, large["forward"]
    with w.tx() as s:
        check_ledger(s)


def _forward_nodes(w: World, lot: int) -> list[dict]:  # type: ignore[type-arg]
    with w.tx() as s:
        return tracing.trace(s, [tracing.Node(batch_id=lot)], "forward").nodes


def test_serial_history_statements_do_not_grow_with_the_steps(engine, sessions):
    w = World(sessions).setup()
    _, (variant,) = w.item("Sensor", "serial")
    places = [w.location_id, w.location("Annex")]
    w.adjust([{"variant_id": variant, "quantity": 1, "serial_numbers": ["S-1"]}])

    def transfer(n: int) -> None:
        with w.tx() as s:
            tr = transfers.create(
                s,
                {
                    "source_location_id": places[n % 2],
                    "target_location_id": places[1 - n % 2],
                    "stock_transfer_rows": [
                        {"variant_id": variant, "quantity": 1, "serial_numbers": ["S-1"]}
                    ],
                },
                "test",
            )
            transfers.set_status(s, tr, "received", "test")

    def history_statements() -> tuple[int, list[str]]:
        with w.tx() as s, counting(engine) as statements:
            h = tracing.serial_history(s, tracing.find_serial(s, serial_number="S-1"))
        return len(h["steps"]), statements

    transfer(0)
    few, small = history_statements()
    for n in range(1, 6):
        transfer(n)
    many, large = history_statements()
    assert many > few + 8  # every transfer adds its steps
    assert len(large) == len(small), large
    assert len(large) <= 6, large  # BEGIN, lookup, timeline, documents, customers, inputs
    with w.tx() as s:
        check_ledger(s)
