"""Two transactions racing on PostgreSQL, one held open while the other waits on it."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text


def while_first_is_open(sessions, engine, first, second):  # type: ignore[no-untyped-def]
    """Run ``second`` in its own transaction while ``first``'s is open, then commit ``first``.

    ``first`` commits only once ``second`` waits on a lock, so ``second`` has
    read whatever it reads before its first wait. Returns what ``second``
    raised (or None).
    """
    outcome: list[BaseException | None] = []

    def run_second() -> None:
        try:
            with sessions() as s2, s2.begin():
                second(s2)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    with sessions() as s1:
        s1.begin()
        first(s1)
        s1.flush()
        t = threading.Thread(target=run_second)
        t.start()
        deadline = time.monotonic() + 20
        with engine.connect() as watch:
            while time.monotonic() < deadline and t.is_alive():
                if watch.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
                    break
                time.sleep(0.05)
        s1.commit()
    t.join(60)
    assert outcome, "the second transaction never finished"
    return outcome[0]
