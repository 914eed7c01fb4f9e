"""Coroutines of the async Katana client, run from synchronous tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def run[T](coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own. Once a browser test has started in a
    worker, Playwright's sync API keeps an event loop running in the test thread for
    the rest of the session, and ``asyncio.run`` refuses to start beside it (the
    Katana client tests failed whenever they ran after a browser test)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
