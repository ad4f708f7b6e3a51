"""``make run`` in a real terminal: Ctrl-C stops the worker and the broker, and make exits 0
without "Interrupt" (issue 23). The terminal is a pseudo-terminal whose session ``make``
leads, so the Ctrl-C goes through the terminal's line discipline as a user's does."""

from __future__ import annotations

import os
import pty
import select
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, broker_engine, free_port, seed_counts
from tests.integration.test_cli import newcomer_env, started_broker_line

pytestmark = pytest.mark.integration


def read_until(fd: int, needle: str, out: list[str], timeout: float) -> bool:
    """Read the pty into ``out`` until ``needle`` appears (True) or EOF/timeout (False)."""
    deadline = time.monotonic() + timeout
    while needle not in "".join(out):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every process holding the terminal has exited
            return False
        if not chunk:
            return False
        out.append(chunk.decode("utf-8", "replace"))
    return True


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (the broker, worker and NLP
    processes of this run all inherit it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if "zombie" in (proc / "status").read_text().lower():
                continue
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_ctrl_c_on_make_run_exits_0(tmp_path: Path) -> None:
    make = shutil.which("make")
    assert make is not None, "GNU make is needed for `make run`"
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "wirestream").exists(), f"no wirestream script beside {sys.executable}"
    port = free_port()
    env = newcomer_env(tmp_path, port)
    env["WIRESTREAM_BROKER_ENGINE"] = broker_engine()
    env["TERM"] = "dumb"
    marker = env["WIRESTREAM_DATA_DIR"]
    # The Makefile's own `run` recipe ($(BIN)/wirestream run), without the install step.
    argv = [make, "-C", str(ROOT), "run", "STAMP=", f"BIN={bin_dir}"]

    pid, master = pty.fork()  # the child leads a new session with the pty as its terminal
    if pid == 0:
        try:
            os.execve(make, argv, env)  # noqa: S606 - the argv is ours
        finally:
            os._exit(127)
    out: list[str] = []
    try:
        routed = read_until(master, "watching for more", out, timeout=240)
        text = "".join(out)
        assert routed, text[-4000:]
        _, seeds = seed_counts()
        assert f"all {seeds} articles routed" in text
        assert started_broker_line(port, tmp_path) in text
        assert "[wirestream.topic.sport]" in text
        os.write(master, b"\x03")  # Ctrl-C, typed into the terminal
        read_until(master, "\0never", out, timeout=60)  # to EOF
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(master)
    text = "".join(out)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, text[-3000:])
    tail = text.split("watching for more", 1)[1]
    assert "stopped (worker and embedded broker stopped cleanly)" in tail
    assert "Interrupt" not in text and "Error" not in text, tail
    assert "Traceback" not in text
    deadline = time.monotonic() + 15
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with(marker) == []  # no broker, worker or NLP process survives
