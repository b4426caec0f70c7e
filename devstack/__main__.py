"""`make run`: the whole portal on this machine, stopped as a whole by Ctrl-C.

Starts the local OpenID provider and the local S3 server (data in .devstack/), creates the
private bucket, migrates and seeds the database, then serves the app on 127.0.0.1:8000.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from devstack.servers import (
    USERS_FILE,
    StackError,
    ensure_private_bucket,
    port_is_free,
    start_oidc_provider,
    start_seaweedfs,
    wait_until_up,
)

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".devstack"
APP_PORT = 8000
OIDC_PORT = 9400
# HTTP ports; SeaweedFS adds gRPC ports 10000 above each.
WEED_PORTS = {"master": 9333, "volume": 9340, "filer": 8888, "s3": 8333, "admin": 23646}


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


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
    app = None

    def stop_on_sigterm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        servers.append(start_oidc_provider(port=OIDC_PORT, log_dir=STATE_DIR / "logs"))
        servers.append(
            start_seaweedfs(
                ports=WEED_PORTS,
                data_dir=STATE_DIR / "s3",
                log_dir=STATE_DIR / "logs",
                access_key=settings.AWS_ACCESS_KEY_ID,
                secret_key=settings.AWS_SECRET_ACCESS_KEY,
            )
        )
        _manage("migrate", "--no-input", "-v", "0")  # runs while the servers start
        wait_until_up(*servers)
        ensure_private_bucket(
            endpoint_url=settings.S3_ENDPOINT_URL,
            bucket=settings.S3_BUCKET,
            access_key=settings.AWS_ACCESS_KEY_ID,
            secret_key=settings.AWS_SECRET_ACCESS_KEY,
            region=settings.S3_REGION,
        )
        _manage("seed_demo_users", str(USERS_FILE))
        _manage("seed_orders", "--count", "300", "--if-empty")  # once: not again on each run
        _print_banner(servers[0].url, servers[1].url, settings.S3_BUCKET)
        app = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{APP_PORT}"], cwd=ROOT
        )
        return app.wait()
    except StackError as error:
        print(f"Could not start the local stack: {error}", file=sys.stderr)
        print(f"Logs are in {STATE_DIR / 'logs'}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        return error.returncode or 1
    except KeyboardInterrupt:
        print("\nStopping the portal and the local stack ...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip clean-up
        if app is not None and app.poll() is None:
            app.send_signal(signal.SIGINT)
            try:
                app.wait(timeout=10)
            except subprocess.TimeoutExpired:
                app.kill()
        for server in reversed(servers):
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
