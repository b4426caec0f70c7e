"""The PostgreSQL health check that reads the socket instead of sending SELECT 1."""

import time

import pytest
from django.db import connection, connections

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
]


def test_a_connection_the_server_ended_is_replaced_before_the_next_query():
    other = connections.create_connection("default")
    try:
        other.ensure_connection()
        assert other.is_usable()
        pid = other.connection.info.backend_pid
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 5
        while other.is_usable() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not other.is_usable()

        # What Django does before a request's first query when CONN_HEALTH_CHECKS is on.
        other.health_check_enabled, other.health_check_done = True, False
        other.close_if_health_check_failed()
        with other.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
        assert other.connection.info.backend_pid != pid
    finally:
        other.close()


def test_an_idle_healthy_connection_passes_the_check_without_a_query(tmp_path):
    from config.postgresql.base import DatabaseWrapper

    other = connections.create_connection("default")
    assert isinstance(other, DatabaseWrapper)
    try:
        other.ensure_connection()
        with other.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        trace = tmp_path / "wire.log"
        with trace.open("w") as out:
            other.connection.pgconn.trace(out.fileno())
            for _ in range(3):
                assert other.is_usable()
            out.flush()
            assert trace.read_text() == ""  # nothing went over the wire
            with other.cursor() as cursor:
                cursor.execute("SELECT 1")  # while a query does show in the trace
            other.connection.pgconn.untrace()
        assert "SELECT 1" in trace.read_text()
    finally:
        other.close()


def test_a_connection_stuck_in_a_failed_transaction_is_not_usable():
    """SELECT 1 would fail on it too; the socket alone would not tell."""
    from django.db import DatabaseError

    other = connections.create_connection("default")
    try:
        other.ensure_connection()
        other.set_autocommit(False)
        with pytest.raises(DatabaseError), other.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")
        assert not other.is_usable()
    finally:
        other.close()
