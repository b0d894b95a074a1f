"""tcra.api.audit.AuditTrail on a real SQLite store: every request's row written, stamped when
the request ended, in the order queued, once flushed or closed."""

import threading
import time

from tcra.api.audit import AuditTrail
from tcra.api.store import ApiStore


def test_rows_from_many_threads_are_all_written_stamped_when_queued(tmp_path):
    store = ApiStore(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    trail = AuditTrail(store)
    before = time.time_ns() // 1_000_000

    def requests(tenant: str) -> None:
        for i in range(50):
            trail.add(tenant, "GET", f"/apps/{i}", 200, f"c-{i}")

    threads = [threading.Thread(target=requests, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    trail.flush()
    rows = store.audited()
    assert len(rows) == 200 and all(r.at_ms >= before for r in rows)
    for n in range(4):
        assert [r.path for r in rows if r.tenant == f"t{n}"] == [f"/apps/{i}" for i in range(50)]
    trail.add(None, "POST", "/apps", 401, None)
    trail.close()
    assert [(r.tenant, r.status) for r in store.audited()[200:]] == [(None, 401)]
