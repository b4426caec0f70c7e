"""Django's cache session store, except that Redis being down is an error, not a new session.

Django's store treats any error reading the cache as "no such session" (for memcached's
invalid keys), so with Redis down every signed-in person would look signed out and be sent to
sign in again, only to fail on saving that sign-in's state. Here the connection error goes up,
and portal.middleware.OutagePageMiddleware answers it with the "session store" 503 page.
"""

import redis
from django.contrib.sessions.backends import cache


class SessionStore(cache.SessionStore):
    def load(self):
        try:
            session_data = self._cache.get(self.cache_key)
        except (redis.ConnectionError, redis.TimeoutError):
            raise
        except Exception:  # noqa: BLE001 - as Django's store: a bad key is a new session
            session_data = None
        if session_data is not None:
            return session_data
        self._session_key = None
        return {}
