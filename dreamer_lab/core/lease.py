"""A lease in an object store: one holder per fingerprint across machines, with an expiry.

``leases/<fingerprint>.json`` holds who computes a fingerprint now. Taking it is a
conditional create (``If-None-Match``); a holder renews it every ``ttl / 3`` seconds by a
conditional replace of the version it wrote (``If-Match``), and hands it back by replacing
it with a ``released`` body. A waiter polls it and takes it over (again a conditional
replace, so one waiter wins) when it was released, or when it looks dead: its version has
not changed for ``ttl`` seconds by the waiter's own clock (no clock agreement needed), or
its ``expires`` wall-clock time is more than ``ttl`` in the past (a holder long gone). A
holder that fails to renew (it was taken over after a stall) keeps computing but says so;
the entry it commits loses to the one committed first (entries are immutable).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
import warnings
from typing import Any

from dreamer_lab.core.object_store import ObjectStore
from dreamer_lab.errors import ObjectStoreWarning

log = logging.getLogger("dreamer_lab")


class Lease:
    """``with Lease(store, "leases/<fp>.json", ttl=60):`` blocks until this process holds it."""

    def __init__(self, store: ObjectStore, key: str, *, ttl: float = 60.0, poll: float = 0.5):
        if ttl <= 0 or poll <= 0:
            raise ValueError(f"lease ttl and poll must be positive, not {ttl} and {poll}")
        self.store = store
        self.key = key
        self.ttl = float(ttl)
        self.poll = float(poll)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.version: str | None = None
        self.renewals = 0
        self.lost = False
        self.took_over_from: str | None = None  # a dead holder's name, when taken over
        self.waited = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self, state: str = "held") -> bytes:
        return json.dumps(
            {
                "holder": self.holder,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "state": state,
                "ttl": self.ttl,
                "expires": time.time() + self.ttl,
                "renewals": self.renewals,
            },
            sort_keys=True,
        ).encode()

    @staticmethod
    def _parse(data: bytes) -> dict[str, Any]:
        try:
            info = json.loads(data)
            return info if isinstance(info, dict) else {}
        except ValueError:
            return {}

    def acquire(self) -> None:
        t0 = time.monotonic()
        seen: tuple[str, float] | None = None
        told = False
        while True:
            version = self.store.put_new(self.key, self._body())
            if version is not None:
                break
            got = self.store.get_versioned(self.key)
            if got is None:
                continue  # released and removed meanwhile: try to create it again
            data, current = got
            info = self._parse(data)
            now = time.monotonic()
            if seen is None or seen[0] != current:
                seen = (current, now)
            ttl = _number(info.get("ttl"), self.ttl)
            expires = _number(info.get("expires"), 0.0)
            dead = now - seen[1] >= ttl or time.time() > expires + ttl
            if info.get("state") == "released" or dead:
                version = self.store.replace_if(self.key, self._body(), current)
                if version is not None:
                    if info.get("state") != "released":
                        self.took_over_from = str(info.get("holder", "?"))
                        log.warning(
                            "took over the lease %s from %s (no renewal for %.0f s)",
                            self.store.where(self.key),
                            self.took_over_from,
                            ttl,
                        )
                    break
                continue
            if not told:
                log.info(
                    "waiting for %s (computing on %s) to finish %s",
                    info.get("holder", "another machine"),
                    info.get("host", "?"),
                    self.key,
                )
                told = True
            time.sleep(self.poll)
        self.version = version
        self.waited = time.monotonic() - t0
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, name="dreamer-lab-lease", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            self.renewals += 1
            try:
                version = self.store.replace_if(self.key, self._body(), self.version or "")
            except Exception as e:  # noqa: BLE001 - a failed renewal is retried next period
                log.warning("could not renew the lease %s: %s", self.store.where(self.key), e)
                continue
            if version is None:
                self.lost = True
                warnings.warn(
                    f"Lost the lease {self.store.where(self.key)} (another machine took it "
                    "over after this one did not renew it in time); this result is still "
                    "committed locally, and the object store keeps whichever was committed "
                    "first.",
                    ObjectStoreWarning,
                    stacklevel=1,
                )
                return
            self.version = version

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.version is not None and not self.lost:
            try:
                self.store.replace_if(self.key, self._body("released"), self.version)
            except Exception as e:  # noqa: BLE001 - an unreleased lease expires by itself
                log.warning("could not release the lease %s: %s", self.store.where(self.key), e)
        self.version = None

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default
