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


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        if self.connection is None or self.connection.closed:
            return False
        try:
            readable, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
