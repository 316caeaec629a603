"""A real Jupyter server with the dreamer_lab routes, on 127.0.0.1, for route tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyter_server(root: Path, config: Path, token: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Serve ``root`` (Jupyter's config and data under ``config``); yields (url, process)."""
    port = _free_port()
    env = dict(
        os.environ, JUPYTER_CONFIG_DIR=str(config / "cfg"), JUPYTER_DATA_DIR=str(config / "d")
    )
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server",
            f"--ServerApp.root_dir={root}", f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            "--ServerApp.jpserver_extensions={'dreamer_lab.server': True}", "--allow-root",
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(proc.stderr.read().decode()[-3000:]) from None
                time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.stderr.close()
