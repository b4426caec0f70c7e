"""Start and stop the local stack: an OpenID provider and an S3 server, both on 127.0.0.1.

Used by `make run` (fixed ports) and by the test suite (free ports, temporary data), so the
app is always developed and tested against real servers speaking real HTTP.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import requests
from botocore.exceptions import ClientError

USERS_FILE = Path(__file__).with_name("users.json")
HOST = "127.0.0.1"
# SeaweedFS puts a gRPC port 10000 above several of its HTTP ports; we give every one explicitly.
GRPC_OFFSET = 10000
WEED_COMPONENTS = ("master", "volume", "filer", "s3", "admin")


class StackError(RuntimeError):
    """A local server could not be started; the message says which and why."""


def _venv_bin(name: str) -> str:
    """A console script of this interpreter's environment, or one on PATH."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise StackError(f"'{name}' is not installed; run `make install-dev` first")
    return found


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def free_weed_ports() -> dict[str, int]:
    """Five HTTP ports whose gRPC partners (port + 10000) are free as well."""
    for _ in range(200):
        base = random.randrange(20000, 45000, 10)  # noqa: S311 - not a secret
        ports = {name: base + offset for offset, name in enumerate(WEED_COMPONENTS)}
        wanted = list(ports.values()) + [p + GRPC_OFFSET for p in ports.values()]
        if all(port_is_free(p) for p in wanted):
            return ports
    raise StackError("found no free block of ports for SeaweedFS")


def wait_for_http(url: str, *, process: subprocess.Popen, name: str, timeout: float = 60) -> None:
    """Poll until the URL answers at all, failing fast if the process dies meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{name} exited with code {process.returncode} while starting")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise StackError(f"{name} did not answer at {url} within {timeout:.0f} s")


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path
    probe_path: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def probe_url(self) -> str:
        return self.url + self.probe_path

    def stop(self, timeout: float = 10) -> None:
        """Ask politely, then insist: nothing we started may outlive us."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)


def _spawn(args: list[str], *, log_path: Path, env: dict | None = None) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it for its whole life
    return subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def start_oidc_provider(*, port: int, log_dir: Path, users_file: Path = USERS_FILE) -> Server:
    """The local OpenID provider (oidc-provider-mock) with the demo users."""
    if not port_is_free(port):
        raise StackError(f"port {port} (local OpenID provider) is already in use")
    args = [
        _venv_bin("oidc-provider-mock"),
        "--host", HOST,
        "--port", str(port),
        "--require-nonce", "true",
        "--user-claims-file", str(users_file),
    ]  # fmt: skip
    process = _spawn(args, log_path=log_dir / "oidc-provider.log")
    issuer = f"http://{HOST}:{port}"
    log_path = log_dir / "oidc-provider.log"
    return Server(
        "local OpenID provider", issuer, process, log_path, "/.well-known/openid-configuration"
    )


def start_seaweedfs(
    *, ports: dict[str, int], data_dir: Path, log_dir: Path, access_key: str, secret_key: str
) -> Server:
    """SeaweedFS in one process (`weed mini`), S3 API with signatures enforced by its keys."""
    for name, port in ports.items():
        for p in (port, port + GRPC_OFFSET):
            if not port_is_free(p):
                raise StackError(f"port {p} (SeaweedFS {name}) is already in use")
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        _venv_bin("weed"), "mini",
        f"-dir={data_dir}",
        f"-ip={HOST}", f"-ip.bind={HOST}",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]  # fmt: skip
    for name, port in ports.items():
        args += [f"-{name}.port={port}", f"-{name}.port.grpc={port + GRPC_OFFSET}"]
    # With keys in its environment weed enforces SigV4 and refuses anonymous access.
    env = {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    process = _spawn(args, log_path=log_dir / "seaweedfs.log", env=env)
    url = f"http://{HOST}:{ports['s3']}"
    return Server(
        "local S3 (SeaweedFS)", url, process, log_dir / "seaweedfs.log", extra={"ports": ports}
    )


def wait_until_up(*servers: Server) -> None:
    for server in servers:
        wait_for_http(server.probe_url, process=server.process, name=server.name)


def ensure_private_bucket(
    *, endpoint_url: str, bucket: str, access_key: str, secret_key: str, region: str
) -> None:
    """Create the bucket if needed, retrying while SeaweedFS finishes its start-up."""
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            client.create_bucket(Bucket=bucket)  # no ACL argument: the bucket stays private
            return
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return
            if time.monotonic() > deadline:
                raise StackError(f"could not create bucket {bucket!r}: {error}") from error
        except Exception as error:  # connection errors while weed warms up
            if time.monotonic() > deadline:
                raise StackError(f"could not create bucket {bucket!r}: {error}") from error
        time.sleep(0.2)
