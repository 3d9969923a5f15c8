"""A real ``python -m skintag.api`` server process on a free local port, for the API tests and the benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiServer:
    """``python -m skintag.api --host 127.0.0.1 --port <free> *args`` with ``env`` added to a clean environment (no
    inherited ``SKINTAG_API_*``); its stdout and stderr go to ``log_path``. :meth:`start` returns once ``/readyz`` says
    the model is loaded."""

    def __init__(self, log_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        self.args = ["--host", "127.0.0.1", "--port", str(self.port), *args]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SKINTAG_API_")}
        self.env = {**clean, **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 240.0) -> ApiServer:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "skintag.api", *self.args], cwd=REPO, env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the API server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the API server was not ready within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        if getattr(self, "_log", None) is not None:
            self._log.close()
