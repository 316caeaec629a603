"""A real S3-compatible server on 127.0.0.1 for tests and benchmarks: moto in server mode.

``with S3Server() as s3:`` starts ``python tests/s3_server.py`` in a child process on a free
port and stops it on exit. The child also stops by itself when the process that started it
is gone, or after ``max_seconds``, so a killed test run leaves nothing running.

``s3.env`` holds what a child process needs to reach it through the usual provider chain
(``AWS_ENDPOINT_URL``, fake credentials made at run time, the region);
``s3.storage_options`` is the same as fsspec options; ``s3.bucket(name)`` creates a bucket
and returns its ``s3://`` URL. Standalone: ``python tests/s3_server.py`` prints ``PORT <n>``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class S3Server:
    """A moto S3 server in a child process (see the module docstring)."""

    def __init__(self, max_seconds: float = 3600.0):
        self.max_seconds = max_seconds
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        # Made at run time: the secret must never show up in a file the runs write.
        self.access_key = "AKIATEST" + secrets.token_hex(6).upper()
        self.secret_key = "s3secret-" + secrets.token_hex(16)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            # no ~/.aws, no instance metadata lookups
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    @property
    def storage_options(self) -> dict[str, Any]:
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
            "skip_instance_cache": True,
        }

    def start(self) -> S3Server:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--port",
                str(self.port),
                "--parent",
                str(os.getpid()),
                "--max-seconds",
                str(self.max_seconds),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("PORT"):
            self.stop()
            raise RuntimeError(f"the moto S3 server did not start (said {line!r})")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the moto S3 server did not accept connections within 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )

    def bucket(self, name: str) -> str:
        """Create bucket ``name`` (if needed); its ``s3://`` URL."""
        c = self.client()
        with contextlib.suppress(c.exceptions.BucketAlreadyOwnedByYou):
            c.create_bucket(Bucket=name)
        return f"s3://{name}"

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object in ``bucket``: key -> bytes."""
        c = self.client()
        out = {}
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                out[o["Key"]] = c.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--parent", type=int, default=0, help="stop when this process is gone")
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    args = ap.parse_args()
    from moto.server import ThreadedMotoServer

    port = args.port or _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(f"PORT {port}", flush=True)
    started = time.monotonic()
    try:
        while time.monotonic() - started < args.max_seconds:
            if args.parent and not _alive(args.parent):
                break
            time.sleep(0.5)
    finally:
        server.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie parent (killed, not yet reaped) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


if __name__ == "__main__":
    main()
