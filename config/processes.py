"""Stopping the child processes we start (a worker for an evaluation, the servers of tests and
benchmarks): asked to stop, then killed if they have not within ``timeout``."""

from __future__ import annotations

import subprocess
from typing import Any


def stop_processes(*processes: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM to all at once (they stop in parallel), then a wait for each; SIGKILL to any that is
    still running after ``timeout`` seconds."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
