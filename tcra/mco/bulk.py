"""Bulk work on a large request without Python's cycle collector in the way."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cycle collector for a block that allocates a lot and makes no cycles.

    A 100,000-workload request is millions of objects; validating it or building its plan
    allocates enough to make the collector walk all of them again and again (half of reading
    such a file, a quarter of place()). Reference counting still frees everything."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
