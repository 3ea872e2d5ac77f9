"""The real daemon against oversized bodies: answered from the headers, and memory stays flat.

Requests go over a raw socket, so the test controls how much of a body is sent before it reads
the answer: an answer that comes after 64 KB of a 100 MB body was given before the body was read.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.conftest import DaemonRun, cli

BODY_MB = 100
CHUNK = b"x" * 65536
MEMORY_SLACK_MB = 5.0
PAUSE = "/api/auto-scaler/pause"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def head(port: int, headers: dict[str, str]) -> socket.socket:
    """A connection with the request line and headers of a POST to /pause sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    lines = [
        f"POST {PAUSE} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


def answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status code and body of the answer (the server closes the connection after it)."""
    data = b""
    while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def send_rest(sock: socket.socket, megabytes: int) -> int:
    """Go on sending the body until all is sent or the server stops taking it; bytes sent."""
    sent = 0
    sock.settimeout(5)
    try:
        while sent < megabytes * 1024 * 1024:
            sock.sendall(CHUNK)
            sent += len(CHUNK)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    return sent


@pytest.fixture
def daemon(tmp_path, base_env, daemon_factory) -> DaemonRun:
    env = dict(base_env, AUTO_SCALER_PLATFORM="manual", AUTO_SCALER_CHECK_INTERVAL_MS="60000")
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    run = daemon_factory(env).start()
    return run


def token(run: DaemonRun) -> str:
    return run.env["AUTO_SCALER_ADMIN_TOKEN"]


@pytest.mark.parametrize(
    ("auth", "code", "detail"),
    [
        (None, 401, b"Missing or malformed Authorization header"),
        ("Bearer wrong-token", 403, b"Invalid admin token"),
        ("good", 413, b"the request body is over 8192 bytes"),
    ],
    ids=["no token", "wrong token", "valid token"],
)
def test_a_100_mb_body_is_answered_before_it_is_read(daemon, auth, code, detail):
    """A 100 MB POST to /pause is answered after 64 KB of it (401, 403 or 413 from the headers),
    and the daemon's resident memory afterwards is within 5 MB of before."""
    assert daemon.proc is not None
    before = rss_mb(daemon.proc.pid)
    headers = {"Content-Type": "application/json", "Content-Length": str(BODY_MB * 1024 * 1024)}
    if auth is not None:
        headers["Authorization"] = f"Bearer {token(daemon)}" if auth == "good" else auth
    with head(daemon.port, headers) as sock:
        sock.sendall(CHUNK)
        status, body = answer(sock)
        send_rest(sock, BODY_MB)
    assert status == code and detail in body
    assert daemon.status()["paused"]["paused"] is False
    assert rss_mb(daemon.proc.pid) - before < MEMORY_SLACK_MB


def test_a_chunked_body_is_cut_off_at_8_kb(daemon):
    """A body sent without a length (chunked) gets 413 once it passes 8 KB, memory flat."""
    assert daemon.proc is not None
    before = rss_mb(daemon.proc.pid)
    headers = {
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
        "Authorization": f"Bearer {token(daemon)}",
    }
    with head(daemon.port, headers) as sock:
        chunk = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
        sock.sendall(chunk)
        status, body = answer(sock)
    assert status == 413 and b'"field":"body"' in body
    assert rss_mb(daemon.proc.pid) - before < MEMORY_SLACK_MB
