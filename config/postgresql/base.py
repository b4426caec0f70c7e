"""Django's PostgreSQL backend with a health check that needs no round trip.

With CONN_HEALTH_CHECKS Django sends `SELECT 1` before each request's first query, which cost
the order list about 0.15 ms of its 1.5. Between requests a connection is idle and the server
sends nothing, unless it is ending the connection (a restart, a failover, an administrator's
pg_terminate_backend): it then writes an error and closes the socket. So "is there anything
to read?", asked of the socket without waiting, tells the same dead connections apart for free;
Django then reconnects before the request's first query, as with its own check.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq

# A failed transaction (INERROR) or a lost connection (UNKNOWN) would fail SELECT 1 too.
USABLE_STATES = (pq.TransactionStatus.IDLE, pq.TransactionStatus.INTRANS)


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        connection = self.connection
        if connection is None or connection.closed:
            return False
        if connection.info.transaction_status not in USABLE_STATES:
            return False
        readable = select.poll()  # poll, unlike select, takes descriptors above 1024
        try:
            readable.register(connection.fileno(), select.POLLIN)
            return not readable.poll(0)
        except (OSError, ValueError):
            return False
