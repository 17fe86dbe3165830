"""Child processes that are always cleaned up, and free ports for them.

Shared by everything that starts servers on this machine: the local stack, the GPU image's
in-image check (deploy/image/) and the release gate's cold-start check (validation/).

Each child starts in its own session (process group), so stopping it stops its
whole tree: the Firestore launcher script leaves its java child behind if only
the script is killed.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class StackError(RuntimeError):
    """The local stack could not start or lost a process."""


_HANDED_OUT: set[int] = set()
_RANDOM = random.SystemRandom()  # never the seeded global one: two processes must not pick alike
# Processes that run stacks side by side (pytest-xdist's workers: tests/conftest.py sets these)
# take disjoint ports: slot i of n takes the ports p with p % n == i.
PORT_SLOT, PORT_SLOTS = "LOCAL_PORT_SLOT", "LOCAL_PORT_SLOTS"


def free_port() -> int:
    """A port nothing listens on, from below the kernel's ephemeral range.

    The port is closed again before the child binds it. A port the kernel picked (bind to 0)
    comes from the ephemeral range, where any outgoing connection of this machine may take it
    in that gap ("Address already in use" in a child's log); below the range only another
    listener can, and this process never hands one out twice, nor one of another slot's. A machine
    whose ephemeral range starts too low to leave room gets a kernel-picked port, as before."""
    low = _ephemeral_low()
    if low - 1024 < 4096:
        return _kernel_port()
    slot, slots = int(os.environ.get(PORT_SLOT, "0")), max(1, int(os.environ.get(PORT_SLOTS, "1")))
    for _ in range(200):
        port = _RANDOM.randrange(max(1024, low - 12000), low)
        if port % slots != slot or port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise StackError(f"no free port below {low}")


def _kernel_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default range starts here


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ready_url: str = ""
    port: int = 0
    proc: subprocess.Popen | None = None
    expected_exit: bool = field(default=False)

    def start(self) -> None:
        self.expected_exit = False
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def is_ready(self) -> bool:
        return http_ok(self.ready_url) if self.ready_url else port_open(self.port)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}:\n{self.tail()}")
            if self.is_ready():
                return
            time.sleep(0.1)
        raise StackError(f"{self.name} not ready after {timeout:.0f}s; see {self.log_path}:\n{self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
        """Signal the whole process group; escalate to SIGKILL after `grace`."""
        if self.proc is None:
            return
        self.expected_exit = True
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        try:  # the group may outlive its leader (java under a launcher script)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:  # until the kernel has removed every member
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def kill(self) -> None:
        """Die like a crashed instance: SIGKILL, no grace, no cleanup."""
        self.stop(signal.SIGKILL, grace=2.0)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def leftover_processes(run_id: str) -> list[int]:
    """Pids of live processes started by the stack run `run_id` (found by their environment)."""
    marker = f"LOCAL_STACK_RUN_ID={run_id}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


class patched_environ:
    def __init__(self, values: dict[str, str]):
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self):
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value
        return self

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
