"""Run the same job in several threads at once, as several machines' cron would."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

# SQLite's in-memory test database refuses a second writer ("table is locked") instead of
# waiting; production runs more than one machine only on PostgreSQL.
needs_row_locks = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent runners need PostgreSQL"
)


def run_at_once(job, *, runners: int = 2) -> list:
    """Start `runners` threads together on `job()`; answers their results, or raises the first
    error any of them met. Each thread has its own database connection, closed at its end."""
    start = threading.Barrier(runners)
    results, errors = [None] * runners, []

    def run(index):
        try:
            start.wait()
            results[index] = job()
        except Exception as error:  # noqa: BLE001 - raised again in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
