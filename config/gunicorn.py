"""gunicorn's settings for `make serve` (gunicorn -c config/gunicorn.py config.wsgi), from the
environment. The variables and their defaults are in the README, "Serving in production".

Sizing: each process runs Python code on one core at a time (the GIL), so one worker per core
keeps the cores busy; the threads overlap what a request waits for (PostgreSQL, Redis, S3, the
provider), which is most of its time. Every thread may hold a database connection of its own
(DB_CONN_MAX_AGE), so a machine opens up to workers x threads of them.
"""

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from None


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the whole host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# Loopback unless told otherwise: a container or a host behind a load balancer sets
# BIND=0.0.0.0:8000 (or a unix socket, unix:/run/portal.sock).
bind = [os.environ.get("BIND") or f"127.0.0.1:{_int('PORT', 8000)}"]
worker_class = "gthread"
workers = _int("WEB_CONCURRENCY", _cores())
threads = _int("GUNICORN_THREADS", 4)

# A worker that stops answering heartbeats for this long is killed and replaced.
timeout = _int("GUNICORN_TIMEOUT", 30)
# SIGTERM (a rolling deploy, `docker stop`, Kubernetes): stop accepting, finish the requests in
# flight, exit. Whatever is still running after this many seconds is killed.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Longer than a load balancer's idle timeout (AWS ALB: 60 s), so the balancer, not gunicorn,
# closes idle connections; otherwise it may send a request down one gunicorn is closing (a 502).
# An idle kept-alive connection waits in the worker's poller, not in a thread.
keepalive = _int("GUNICORN_KEEPALIVE", 75)
# Workers are replaced after about this many requests (0: never), so slow leaks stay bounded;
# the jitter keeps them from all restarting at once. A new worker imports the app and warms its
# caches, seconds of CPU: `make load` measured the 1,000 of gunicorn's usual examples costing a
# third of the throughput, so replacements are kept to minutes apart on a busy worker.
max_requests = _int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 2000)

# Heartbeat files on tmpfs: a container's disk can stall a worker's heartbeat and get it killed.
# (gunicorn makes them with mkstemp and unlinks them at once.)
SHM = "/dev/shm"  # noqa: S108 - see above
if os.path.isdir(SHM):
    worker_tmp_dir = SHM

# Django decides what a proxy may say (TRUSTED_PROXY_COUNT, portal/client_ip.py); gunicorn would
# otherwise believe X-Forwarded-Proto from 127.0.0.1 even with TRUSTED_PROXY_COUNT=0.
forwarded_allow_ips = ""
# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), which
# a second server from the same account would take over; nothing here uses it.
control_socket_disable = True

# gunicorn's own messages (start, worker restarts, timeouts) go to stderr. Its access log is off
# unless GUNICORN_ACCESS_LOG names a file ("-": stdout): requests are Django's to log, which
# knows the user and the request id.
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
proc_name = "portal"
