"""Start and stop the local stack: an OpenID provider and an S3 server, both on 127.0.0.1.

Used by `make run` (fixed ports) and by the test suite (ports from the OS, temporary data), so
the app is always developed and tested against real servers speaking real HTTP.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

import boto3
import requests
from botocore.exceptions import ClientError

USERS_FILE = Path(__file__).with_name("users.json")
HOST = "127.0.0.1"
# weed mini's maintenance workers dial the admin's gRPC port at its HTTP port + 10000, whatever
# -admin.port.grpc says, so that pair must keep weed's offset; the other components are told
# each other's gRPC ports, so theirs are free to choose.
ADMIN_GRPC_OFFSET = 10000
# Every port `weed mini` listens on with the flags of start_seaweedfs, by the flag that sets it.
WEED_PORT_FLAGS = (
    "master.port", "master.port.grpc",
    "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc",
    "s3.port", "s3.port.grpc",
    "admin.port", "admin.port.grpc",
)  # fmt: skip
# What weed inherits from our environment (see start_seaweedfs); Go reads GOMEMLIMIT and GOGC.
WEED_ENVIRONMENT = ("PATH", "HOME", "TMPDIR", "LANG", "TZ", "GOMEMLIMIT", "GOGC")
# A server's log saying it could not have a port we chose: a bind that failed (Go, uvicorn),
# weed refusing an explicit port, or weed moving a gRPC port elsewhere.
PORT_TAKEN_IN_LOG = re.compile(
    r"address already in use"
    r"|specified by flag [\w.]+\) is not available"
    r"|gRPC port \d+ for \w+ is not available"
)


class StackError(RuntimeError):
    """A local server could not be started; the message says which and why."""


class PortTaken(StackError):
    """A port the stack needs was in use, or was taken before its server could bind it."""


@dataclass(frozen=True)
class StackPorts:
    """Every port the local stack listens on: the provider's, and SeaweedFS's by flag."""

    provider: int
    weed: dict[str, int]

    def named(self) -> dict[str, int]:
        """Each port under the name error messages use for it."""
        return {
            "local OpenID provider": self.provider,
            **{f"SeaweedFS {flag}": port for flag, port in self.weed.items()},
        }


# `make run`'s ports, all below Linux's ephemeral range (32768-60999), where every outgoing
# connection takes a local port and may hold one of ours just when a server wants to bind it.
RUN_PORTS = StackPorts(
    provider=9400,
    weed={
        "master.port": 9333, "master.port.grpc": 19333,
        "volume.port": 9340, "volume.port.grpc": 19340,
        "filer.port": 8888, "filer.port.grpc": 18888,
        "s3.port": 8333, "s3.port.grpc": 18333,
        "admin.port": 13646, "admin.port.grpc": 13646 + ADMIN_GRPC_OFFSET,
    },
)  # fmt: skip


def _venv_bin(name: str) -> str:
    """A console script of this interpreter's environment, or one on PATH."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise StackError(f"'{name}' is not installed; run `make install-dev` first")
    return found


def port_is_free(port: int) -> bool:
    """Whether a server could listen on the port now, judged the way ours bind: on HOST with
    SO_REUSEADDR (Go's net.Listen, uvicorn and Django's runserver all set it), so the last
    run's connections still in TIME_WAIT do not make the port look taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
            sock.listen()
        except OSError:
            return False
    return True


def _hold(held: ExitStack, port: int = 0) -> int | None:
    """Bind a socket to the port (0: one the OS picks) until `held` closes; None if taken."""
    sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    try:
        sock.bind((HOST, port))
    except OSError:
        return None
    return sock.getsockname()[1]


def free_stack_ports() -> StackPorts:
    """Ports the OS hands out now, all different: each is held until every one is chosen.

    Between here and the servers' bind another process may still take one; start_test_stack
    notices (the server fails to bind) and tries once more on new ports.
    """
    with ExitStack() as held:
        weed = {flag: _hold(held) for flag in WEED_PORT_FLAGS if not flag.startswith("admin.")}
        for _ in range(100):
            admin = _hold(held)
            if admin + ADMIN_GRPC_OFFSET <= 65535 and _hold(held, admin + ADMIN_GRPC_OFFSET):
                weed["admin.port"], weed["admin.port.grpc"] = admin, admin + ADMIN_GRPC_OFFSET
                return StackPorts(provider=_hold(held), weed=weed)
    raise StackError("found no free pair of ports for the SeaweedFS admin")


def _check_ports_free(ports: dict[str, int]) -> None:
    busy = [f"{port} ({name})" for name, port in ports.items() if not port_is_free(port)]
    if busy:
        raise PortTaken(f"ports in use: {', '.join(busy)}")


def stop_processes(*processes: subprocess.Popen | None, timeout: float = 5) -> None:
    """Ask all to stop (SIGTERM), wait for them together, then SIGKILL what is left (and its
    children): nothing we started may outlive us or keep a port.

    Each stops in about a second, except SeaweedFS in the first 15 s after a restart with data:
    its filer then waits for the master's warm-up to write its change log, so it is killed.
    """
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            for child in _children(process.pid):
                _kill(child)
            process.kill()
            process.wait()


def _children(pid: int) -> list[int]:
    """Direct children of a process, read from /proc (none where there is no /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # the parent's pid is the second field after the parenthesised command name
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError):  # it ended meanwhile
        os.kill(pid, signal.SIGKILL)


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path
    log_start: int  # where this run's lines begin: `make run` keeps its logs across runs
    ports: tuple[int, ...]
    probe_path: str = ""

    @property
    def probe_url(self) -> str:
        return self.url + self.probe_path

    def log_lines(self) -> list[str]:
        """What the server has logged since it was started."""
        with open(self.log_path, "rb") as log:
            log.seek(self.log_start)
            return log.read().decode(errors="replace").splitlines()

    def _port_problem(self) -> str | None:
        """The log line saying a port we chose was not the server's, if there is one."""
        return next((line for line in self.log_lines() if PORT_TAKEN_IN_LOG.search(line)), None)

    def _answers(self) -> bool:
        try:
            requests.get(self.probe_url, timeout=1)
        except requests.RequestException:
            return False
        return True

    def wait_until_up(self, timeout: float = 60) -> None:
        """Poll until the server answers and listens on every port we gave it (SeaweedFS opens
        its admin ports last), failing fast if it exits or logs that a port was not its own."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if problem := self._port_problem():
                raise PortTaken(f"{self.name} could not bind its ports: {problem}")
            if self.process.poll() is not None:
                code, last = self.process.returncode, (self.log_lines() or ["(no log)"])[-1]
                raise StackError(f"{self.name} exited with code {code} while starting: {last}")
            if self._answers() and all(_accepts_connections(port) for port in self.ports):
                return
            time.sleep(0.1)
        raise StackError(f"{self.name} did not answer at {self.probe_url} within {timeout:.0f} s")


def _accepts_connections(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=1).close()
    except OSError:
        return False
    return True


def _spawn(name: str, args: list[str], *, log_path: Path, env: dict | None = None, **server):
    """Start a server logging to log_path, in our environment or in `env` alone."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:  # the child keeps its own copy of the file
        log_start = log.seek(0, os.SEEK_END)
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=os.environ if env is None else env,
        )
    return Server(name, process=process, log_path=log_path, log_start=log_start, **server)


def start_oidc_provider(*, port: int, log_dir: Path, users_file: Path = USERS_FILE) -> Server:
    """The local OpenID provider (oidc-provider-mock) with the demo users."""
    _check_ports_free({"local OpenID provider": port})
    args = [
        _venv_bin("oidc-provider-mock"),
        "--host", HOST,
        "--port", str(port),
        "--require-nonce", "true",
        "--user-claims-file", str(users_file),
    ]  # fmt: skip
    return _spawn(
        "local OpenID provider",
        args,
        log_path=log_dir / "oidc-provider.log",
        url=f"http://{HOST}:{port}",
        ports=(port,),
        probe_path="/.well-known/openid-configuration",
    )


def start_seaweedfs(
    *, ports: dict[str, int], data_dir: Path, log_dir: Path, access_key: str, secret_key: str
) -> Server:
    """SeaweedFS in one process (`weed mini`), S3 API with signatures enforced by its keys."""
    if sorted(ports) != sorted(WEED_PORT_FLAGS):
        raise StackError(f"SeaweedFS needs exactly these ports: {', '.join(WEED_PORT_FLAGS)}")
    if ports["admin.port.grpc"] != ports["admin.port"] + ADMIN_GRPC_OFFSET:
        raise StackError(f"SeaweedFS's admin gRPC port must be its HTTP port + {ADMIN_GRPC_OFFSET}")
    _check_ports_free({f"SeaweedFS {flag}": port for flag, port in ports.items()})
    data_dir.mkdir(parents=True, exist_ok=True)
    # weed saves its flags there and applies them at the next start over any flag we pass at its
    # default value (an earlier run's DEBUG=1 came back as debug=true); ours are the whole set.
    (data_dir / "mini.options").unlink(missing_ok=True)
    args = [
        _venv_bin("weed"), "mini",
        f"-dir={data_dir}",
        f"-ip={HOST}", f"-ip.bind={HOST}",
        "-master.telemetry=false",
        "-admin.ui=false",
        # Off, so they open no port: WebDAV and the Iceberg and Lance catalogs (the metrics
        # and debug servers are off unless given a port).
        "-webdav=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        # A volume server waits before stopping so a cluster can drain it; alone, it need not.
        "-volume.preStopSeconds=0",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]  # fmt: skip
    # weed reads any flag from an environment variable of its name, so the portal's own
    # settings must not reach it: DEBUG=1 (which `make run` sets) would open a pprof server on
    # port 6060, S3_BUCKET would create a bucket. It gets a plain environment and its keys; with
    # keys there it enforces SigV4 and refuses anonymous access.
    env = {name: os.environ[name] for name in WEED_ENVIRONMENT if name in os.environ}
    env |= {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    return _spawn(
        "local S3 (SeaweedFS)",
        args,
        log_path=log_dir / "seaweedfs.log",
        env=env,
        url=f"http://{HOST}:{ports['s3.port']}",
        ports=tuple(ports.values()),
    )


def start_stack(
    *, ports: StackPorts, state_dir: Path, access_key: str, secret_key: str
) -> list[Server]:
    """Start the provider and SeaweedFS (data and logs under state_dir), without waiting."""
    log_dir = state_dir / "logs"
    servers = [start_oidc_provider(port=ports.provider, log_dir=log_dir)]
    try:
        servers.append(
            start_seaweedfs(
                ports=ports.weed,
                data_dir=state_dir / "s3",
                log_dir=log_dir,
                access_key=access_key,
                secret_key=secret_key,
            )
        )
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def wait_until_up(*servers: Server) -> None:
    for server in servers:
        server.wait_until_up()


def stop_servers(servers: list[Server]) -> None:
    stop_processes(*(server.process for server in servers))


def start_test_stack(*, state_dir: Path, access_key: str, secret_key: str) -> list[Server]:
    """The stack on ports from the OS, up and answering; on new ports once more if a server
    could not bind one of its own (another process took it after the OS handed it out)."""
    keys = {"access_key": access_key, "secret_key": secret_key}
    try:
        return _start_and_wait(ports=free_stack_ports(), state_dir=state_dir / "1", **keys)
    except PortTaken:
        return _start_and_wait(ports=free_stack_ports(), state_dir=state_dir / "2", **keys)


def _start_and_wait(*, ports: StackPorts, state_dir: Path, **keys: str) -> list[Server]:
    servers = start_stack(ports=ports, state_dir=state_dir, **keys)
    try:
        wait_until_up(*servers)
    except BaseException:
        stop_servers(servers)
        raise
    return servers


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
