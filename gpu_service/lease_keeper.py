"""Keeps a job's lease alive while its worker works.

A thread of its own renews the lease every `every` seconds, so neither the
request's thread (waiting on the batcher) nor the model thread ever stops to
do it. If a renewal finds the lease in another holder's hands (ours ran out
while Firestore could not be reached, and a redelivery took the job over), the
keeper remembers it: the worker then abandons the job instead of writing.
"""

from __future__ import annotations

import logging
import threading

from adapters.leases import LeaseStore
from adapters.logs import log

logger = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, leases: LeaseStore, key: str, holder: str, *, seconds: float, every: float):
        self.leases, self._key, self._holder = leases, key, holder
        self._seconds, self._every = seconds, every
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{key[:8]}", daemon=True)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self._every + 5)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                held = self.leases.renew(self._key, self._holder, self._seconds)
            except Exception as exc:  # noqa: BLE001 - transient: the next beat tries again, the lease may still hold
                log(logger, logging.WARNING, "lease renewal failed; retrying", job_id=self._key, error=str(exc)[:300])
                continue
            if not held:
                log(logger, logging.ERROR, "lease lost to another worker; abandoning the job", job_id=self._key)
                self._lost.set()
                return
