"""The audit trail, written off the request path: a request's row is queued as it ends and one
writer thread adds whatever has queued up in one transaction. A request then neither waits for
a commit nor holds a worker thread for it, and a burst of requests is a few commits, not one
each contending with the bookings' for the database's write lock. Rows still queued are
written by `close` (the server's shutdown); a process killed outright loses them."""

from __future__ import annotations

import logging
import queue
import threading

from tcra.api.store import ApiStore, AuditRow, now_ms

BATCH = 1000  # rows in one transaction at most
log = logging.getLogger("tcra.api.audit")


class AuditTrail:
    def __init__(self, store: ApiStore) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[AuditRow | threading.Event | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="tcra-audit", daemon=True)
        self._writer.start()

    def add(self, tenant: str | None, method: str, path: str, status: int,
            correlator: str | None) -> None:
        """Queue one request's row, stamped now."""
        self._queue.put(AuditRow(at_ms=now_ms(), tenant=tenant,
                                 method=method, path=path[:2048], status=status,
                                 correlator=correlator))

    def flush(self) -> None:
        """Return once every row queued before the call is written (or failed, logged)."""
        written = threading.Event()
        self._queue.put(written)
        written.wait()

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        self._queue.put(None)
        self._writer.join()

    def _write(self) -> None:
        stopping = False
        while not stopping:
            rows: list[AuditRow] = []
            told: list[threading.Event] = []
            item = self._queue.get()
            while True:
                if item is None:
                    stopping = True
                elif isinstance(item, threading.Event):
                    told.append(item)
                else:
                    rows.append(item)
                if stopping or len(rows) >= BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if rows:
                try:
                    self.store.add(rows)
                except Exception:  # the writer outlives a store that failed once
                    log.exception("audit trail: %d request row(s) not written", len(rows))
            for event in told:
                event.set()
