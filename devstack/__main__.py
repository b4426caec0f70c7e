"""`make run`: the whole portal on this machine, stopped as a whole by Ctrl-C.

Starts the local OpenID provider and the local S3 server (data in .devstack/), creates the
private bucket and its CORS rule (`manage.py s3_bootstrap`), migrates and seeds the database,
then serves the app on 127.0.0.1:8000.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from devstack.servers import (
    RUN_PORTS,
    USERS_FILE,
    PortTaken,
    StackError,
    ensure_private_bucket,
    port_is_free,
    start_stack,
    stop_processes,
    wait_until_up,
)

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".devstack"
APP_PORT = 8000  # like the servers' ports (RUN_PORTS), below the ephemeral range


def _manage(*args: str, started: list[subprocess.Popen]) -> None:
    """Run a management command; `started` keeps it for the clean-up if we are interrupted."""
    process = subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT)
    started.append(process)
    if process.wait() != 0:
        raise subprocess.CalledProcessError(process.returncode, ["manage.py", *args])


def _print_banner(issuer: str, s3_url: str, bucket: str) -> None:
    print(
        f"""
  Order Portal is running:   http://127.0.0.1:{APP_PORT}/
  Local OpenID provider:     {issuer}   (pick a user on its sign-in page)
  Local S3 (SeaweedFS):      {s3_url}   bucket '{bucket}' (private)

  Demo users (no passwords: choose one on the provider's page):
    admin   roles ADMIN + USER   (groups portal-admins, portal-users)
    alice   role USER            (group portal-users)
    bob     role USER            (group portal-users)
    nobody  no role              (no groups: sees the "no access" page)

  Press Ctrl-C to stop everything.
""",
        flush=True,
    )


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings  # the Makefile has put DEBUG=1 in the environment

    if not port_is_free(APP_PORT):
        print(f"Port {APP_PORT} is in use: is `make run` already running?", file=sys.stderr)
        return 1

    servers = []
    commands = []  # management commands, waited for (not left as zombies) on Ctrl-C
    app = None

    def stop_on_signal(signum, frame):
        raise KeyboardInterrupt

    # `kill` and a closed terminal stop everything as Ctrl-C does.
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    try:
        servers = start_stack(
            ports=RUN_PORTS,
            state_dir=STATE_DIR,
            access_key=settings.AWS_ACCESS_KEY_ID,
            secret_key=settings.AWS_SECRET_ACCESS_KEY,
        )
        _manage("migrate", "--no-input", "-v", "0", started=commands)  # while the servers start
        wait_until_up(*servers)
        ensure_private_bucket(
            endpoint_url=settings.S3_ENDPOINT_URL,
            bucket=settings.S3_BUCKET,
            access_key=settings.AWS_ACCESS_KEY_ID,
            secret_key=settings.AWS_SECRET_ACCESS_KEY,
            region=settings.S3_REGION,
        )  # waits for weed's start-up; s3_bootstrap then adds the CORS rule for SITE_ORIGIN
        _manage("s3_bootstrap", started=commands)
        _manage("seed_demo_users", str(USERS_FILE), started=commands)
        # --if-empty: the orders are seeded once, not again on each run
        _manage("seed_orders", "--count", "300", "--if-empty", started=commands)
        _print_banner(servers[0].url, servers[1].url, settings.S3_BUCKET)
        app = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{APP_PORT}"], cwd=ROOT
        )
        return app.wait()
    except StackError as error:
        print(f"Could not start the local stack: {error}", file=sys.stderr)
        if isinstance(error, PortTaken):
            hint = "Is `make run` running elsewhere? `ss -ltnp` names who holds a port."
            print(hint, file=sys.stderr)
        print(f"Logs are in {STATE_DIR / 'logs'}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        return error.returncode or 1
    except KeyboardInterrupt:
        print("\nStopping the portal and the local stack ...", flush=True)
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not skip clean-up
        stop_processes(app, *commands, *(server.process for server in servers))


if __name__ == "__main__":
    sys.exit(main())
