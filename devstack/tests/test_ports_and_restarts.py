"""`make run` starts every time: its ports, the free-port check, start-up races and stopping."""

import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import boto3
import pytest
import requests

from devstack import servers
from devstack.__main__ import APP_PORT
from devstack.servers import (
    ADMIN_GRPC_OFFSET,
    HOST,
    RUN_PORTS,
    PortTaken,
    StackPorts,
    ensure_private_bucket,
    free_stack_ports,
    port_is_free,
    start_stack,
    start_test_stack,
    stop_processes,
    stop_servers,
    wait_until_up,
)

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _listener(host: str = HOST, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen()
    return sock


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for whoever reaps it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _processes_using(path: Path) -> list[str]:
    """Running processes whose command line or output names the path: our servers name their
    data folder or log into their folder's logs/."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().decode(errors="replace").replace("\0", " ")
            output = str((proc / "fd" / "1").readlink())
        except OSError:
            continue
        if (str(path) in args or output.startswith(str(path))) and _running(int(proc.name)):
            found.append(args)
    return found


def _keys() -> dict[str, str]:
    return {"access_key": f"test-{secrets.token_hex(4)}", "secret_key": secrets.token_urlsafe(24)}


def _s3_client(s3: servers.Server, keys: dict[str, str]):
    return boto3.client(
        "s3",
        endpoint_url=s3.url,
        region_name="us-east-1",
        aws_access_key_id=keys["access_key"],
        aws_secret_access_key=keys["secret_key"],
    )


def _stack_answers(stack: list[servers.Server], keys: dict[str, str], *, run: int) -> None:
    """Both servers do their job: the provider serves discovery; S3 stores this run's object
    and still has every earlier run's."""
    provider, s3 = stack
    discovery = requests.get(provider.probe_url, timeout=5).json()
    assert discovery["issuer"] == provider.url
    ensure_private_bucket(endpoint_url=s3.url, bucket="restarts", region="us-east-1", **keys)
    client = _s3_client(s3, keys)
    client.put_object(Bucket="restarts", Key=f"run-{run}", Body=f"run {run}".encode())
    for earlier in range(run + 1):
        stored = client.get_object(Bucket="restarts", Key=f"run-{earlier}")["Body"].read()
        assert stored == f"run {earlier}".encode()


def test_make_run_ports_lie_outside_the_ephemeral_range():
    low, high = (32768, 60999)
    if EPHEMERAL_RANGE.exists():
        low, high = map(int, EPHEMERAL_RANGE.read_text().split())
    ports = [APP_PORT, *RUN_PORTS.named().values()]
    assert len(set(ports)) == len(ports)
    assert [port for port in ports if low <= port <= high] == []
    # Below 32768 they are also outside the other systems' default range (49152-65535).
    assert max(ports) < 32768


def test_make_run_gives_seaweedfs_every_port_it_opens():
    assert sorted(RUN_PORTS.weed) == sorted(servers.WEED_PORT_FLAGS)
    assert RUN_PORTS.weed["admin.port.grpc"] == RUN_PORTS.weed["admin.port"] + ADMIN_GRPC_OFFSET


def test_a_port_whose_last_connection_is_in_time_wait_counts_as_free():
    server = _listener()
    port = server.getsockname()[1]
    client = socket.create_connection((HOST, port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first, so its end of the connection waits
    client.recv(1)
    client.close()
    server.close()
    # Without SO_REUSEADDR the TIME_WAIT connection holds the port: the check used to say "in use".
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as plain,
        pytest.raises(OSError, match="in use"),
    ):
        plain.bind((HOST, port))
    assert port_is_free(port)


@pytest.mark.parametrize("host", [HOST, "0.0.0.0"])  # noqa: S104 - a listener on every address
def test_a_port_someone_listens_on_is_not_free(host):
    with _listener(host) as sock:
        assert not port_is_free(sock.getsockname()[1])


def test_free_stack_ports_are_all_different_and_free():
    ports = free_stack_ports()
    named = ports.named()
    assert len(set(named.values())) == len(named)
    assert all(port_is_free(port) for port in named.values())
    assert sorted(ports.weed) == sorted(servers.WEED_PORT_FLAGS)
    assert ports.weed["admin.port.grpc"] == ports.weed["admin.port"] + ADMIN_GRPC_OFFSET


def _listening_ports(pid: int) -> set[int]:
    """The TCP ports a process listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with suppress(OSError):
            if (target := str(fd.readlink())).startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_seaweedfs_opens_only_our_ports_whatever_the_environment_or_saved_options(
    tmp_path, monkeypatch
):
    # The portal's settings, as `make run` and `make test` have them in the environment.
    monkeypatch.setenv("DEBUG", "1")
    monkeypatch.setenv("S3_BUCKET", "leaked-from-the-portal")
    # The options weed saved in an earlier run, when it still saw DEBUG=1.
    (tmp_path / "s3").mkdir()
    (tmp_path / "s3" / "mini.options").write_text("debug=true\nwebdav=true\n")
    keys = _keys()
    ports = free_stack_ports().weed
    s3 = servers.start_seaweedfs(
        ports=ports, data_dir=tmp_path / "s3", log_dir=tmp_path / "logs", **keys
    )
    try:
        wait_until_up(s3)  # until every port we gave it accepts connections
        assert _listening_ports(s3.process.pid) == set(ports.values())
        client = _s3_client(s3, keys)
        assert [bucket["Name"] for bucket in client.list_buckets()["Buckets"]] == []
    finally:
        stop_servers([s3])


def test_a_busy_port_stops_the_start_before_anything_runs(tmp_path):
    with _listener() as sock:
        busy = StackPorts(provider=sock.getsockname()[1], weed=free_stack_ports().weed)
        with pytest.raises(PortTaken, match=rf"{busy.provider} \(local OpenID provider\)"):
            start_stack(ports=busy, state_dir=tmp_path, **_keys())
    assert _processes_using(tmp_path) == []


def _take_provider_port_after_the_check(monkeypatch, *, times: int) -> Iterator[list[StackPorts]]:
    """Fault: another process binds the provider's port just after our check found it free;
    yields the ports each attempt was given."""
    chosen, taken = [], []
    choose, check = servers.free_stack_ports, servers._check_ports_free

    def free_stack_ports_recorded():
        chosen.append(choose())
        return chosen[-1]

    def check_then_lose_the_port(ports):
        check(ports)
        if "local OpenID provider" in ports and len(taken) < times:
            taken.append(_listener(port=ports["local OpenID provider"]))

    monkeypatch.setattr(servers, "free_stack_ports", free_stack_ports_recorded)
    monkeypatch.setattr(servers, "_check_ports_free", check_then_lose_the_port)
    yield chosen
    for sock in taken:
        sock.close()


@pytest.fixture
def provider_port_taken_once(monkeypatch):
    yield from _take_provider_port_after_the_check(monkeypatch, times=1)


@pytest.fixture
def provider_port_taken_always(monkeypatch):
    yield from _take_provider_port_after_the_check(monkeypatch, times=2)


def test_a_port_taken_before_the_bind_is_retried_once_on_new_ports(
    tmp_path, provider_port_taken_once
):
    keys = _keys()
    stack = start_test_stack(state_dir=tmp_path, **keys)
    try:
        first, second = provider_port_taken_once
        assert second.provider != first.provider
        assert stack[0].url == f"http://{HOST}:{second.provider}"
        first_log = (tmp_path / "1" / "logs" / "oidc-provider.log").read_text()
        assert "address already in use" in first_log
        assert _processes_using(tmp_path / "1") == []  # the first attempt's SeaweedFS too
        _stack_answers(stack, keys, run=0)
    finally:
        stop_servers(stack)


def test_a_port_taken_twice_gives_up_with_the_reason(tmp_path, provider_port_taken_always):
    with pytest.raises(PortTaken, match="address already in use"):
        start_test_stack(state_dir=tmp_path, **_keys())
    assert len(provider_port_taken_always) == 2
    assert _processes_using(tmp_path) == []


def test_make_run_stack_starts_again_right_after_each_stop(tmp_path):
    """Start, stop, start, stop, start, stop on one set of ports, with `make run`'s code path.

    `make run`'s own ports when they are free; when a developer's `make run` holds them, ports
    from the OS instead, kept for all three starts: what matters is starting again on the very
    ports the previous run has just let go, with the data it left.
    """
    fixed_free = all(port_is_free(port) for port in RUN_PORTS.named().values())
    ports = RUN_PORTS if fixed_free else free_stack_ports()
    keys = _keys()
    for run in range(3):
        stack = start_stack(ports=ports, state_dir=tmp_path, **keys)
        try:
            wait_until_up(*stack)
            _stack_answers(stack, keys, run=run)
        finally:
            stopping = time.monotonic()
            stop_servers(stack)
        assert time.monotonic() - stopping < 8  # 5 s to stop on SIGTERM, then killed
        assert None not in [server.process.returncode for server in stack]
    assert _processes_using(tmp_path) == []
    assert [port for port in ports.named().values() if not port_is_free(port)] == []


def test_stop_kills_a_process_that_ignores_sigterm_and_its_children():
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, subprocess, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    child = int(stubborn.stdout.readline())
    started = time.monotonic()
    stop_processes(stubborn, timeout=1)
    assert stubborn.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)
