"""A token's request budget, shared by every worker that syncs with it, through Django's cache (Redis in production).

Several sources, or several repositories of one organisation, often sync with the same token at
the same time, each in its own worker. A system counts its limits per token, not per worker, so
what one sync learns about the token is worth telling the others:

- **the quota used up**: an answer saying `X-RateLimit-Remaining: 0` (or a 403 for the quota)
  with its `X-RateLimit-Reset`, per rate-limit resource (GitHub counts its REST API, `core`, and
  its GraphQL API, `graphql`, apart). The token rests until its reset in every worker: none
  spends a request on a certain 403;
- **a pause**: a secondary limit ("abuse detection") that stops one sync stops every sync using
  the token until the time it named (or at least a minute), instead of each one tripping it in
  turn and making it longer;
- **slots**: at most `BALOO_SYNC_CONCURRENCY_PER_TOKEN` requests with one token are under way at
  once, across all workers (default 1: GitHub asks for requests made one at a time per token, and
  counts more than 100 at once as abuse). A slot is held for one request only, so two syncs with
  one token take turns request by request. A slot held by a worker that was killed frees itself
  after the request timeout.

The token itself is never stored: its entries are keyed by a hash of the system's origin and the
token (anonymous access has its own). When the cache fails (Redis down), a sync goes on with what
its own client knows, as before this existed, and the log says so.
"""

import hashlib
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

logger = logging.getLogger(__name__)

PREFIX = "baloo:token-budget:"
# The longest a quota or a pause is remembered for other syncs: GitHub's reset comes within the hour;
# a system that names a later time (broken, or hostile) holds up its own syncs, not every worker for ever.
LONGEST_REMEMBERED = 24 * 3600
# How often a request waiting for a slot looks again.
SLOT_POLL_SECONDS = 0.01


@dataclass(frozen=True, slots=True)
class Told:
    """What other requests found for a token: its quota used up until, a secondary limit's pause until."""

    used_up_until: datetime | None
    paused_until: datetime | None


class SharedBudget:
    """What every worker knows about the tokens of one system (`origin`), and the slots that take turns."""

    def __init__(self, origin: tuple, *, slot_seconds: float, concurrency: int | None = None) -> None:
        self.origin = "|".join(str(part) for part in origin)
        # A slot outlives the longest request by a little: then a killed worker's slot is free again.
        self.slot_seconds = slot_seconds
        self._concurrency = concurrency
        self._warned = False
        # This client, among the workers taking turns with the same token.
        self.id = uuid.uuid4().hex

    @property
    def concurrency(self) -> int:
        if self._concurrency is None:
            from django.conf import settings

            self._concurrency = int(getattr(settings, "BALOO_SYNC_CONCURRENCY_PER_TOKEN", 1))
        return self._concurrency

    def key(self, token: str | None) -> str:
        digest = hashlib.sha256(f"{self.origin}\n{token or ''}".encode()).hexdigest()[:32]
        return PREFIX + digest

    def told(self, tokens: list[str | None], resource: str) -> list[Told]:
        """What other requests (of any worker) found for each token: its quota of `resource` used up, a pause.

        One read of the cache for them all.
        """
        keys = [(f"{self.key(token)}:quota:{resource}", f"{self.key(token)}:pause") for token in tokens]
        found = self._cache_call(lambda cache: cache.get_many([key for pair in keys for key in pair]), {}) or {}
        now = time.time()
        told = []
        for quota_key, pause_key in keys:
            reset = found.get(quota_key)
            pause = found.get(pause_key)
            told.append(Told(used_up_until=datetime.fromtimestamp(reset, UTC) if reset and reset > now else None,
                             paused_until=datetime.fromtimestamp(pause, UTC) if pause and pause > now else None))
        return told

    def note_used_up(self, token: str | None, resource: str, *, reset: datetime) -> None:
        """The token's quota of `resource` is used up until `reset`: forgotten then."""
        seconds = min(reset.timestamp() - time.time(), LONGEST_REMEMBERED)
        if seconds <= 0:
            return
        key = f"{self.key(token)}:quota:{resource}"
        self._cache_call(lambda cache: cache.set(key, time.time() + seconds, timeout=seconds + 60))

    def note_pause(self, token: str | None, until: datetime) -> None:
        """A secondary limit: no request with this token, from any worker, before `until`."""
        seconds = min(until.timestamp() - time.time(), LONGEST_REMEMBERED)
        if seconds <= 0:
            return
        key = f"{self.key(token)}:pause"

        def later_pause(cache) -> None:
            # Never shortened by a shorter pause another worker saw at the same moment.
            current = cache.get(key)
            if current is None or current < time.time() + seconds:
                cache.set(key, time.time() + seconds, timeout=seconds + 5)

        self._cache_call(later_pause)

    # -- slots

    @contextmanager
    def slot(self, token: str | None) -> Iterator[None]:
        """Hold one of the token's slots for one request; wait for one when all are taken.

        Turns are fair: a worker that held the last slot and asks again while another waits lets
        the other go first, so a busy sync never starves another with the same token.
        """
        if self.concurrency <= 0:
            yield
            return
        owner = uuid.uuid4().hex
        base = self.key(token)
        timeout = max(1, int(self.slot_seconds + 1))
        # A slot is never held longer than one request, and frees itself after `slot_seconds`:
        # waiting longer than that means the cache lost track; go on rather than stall the sync.
        deadline = time.monotonic() + self.slot_seconds + 1
        held = self._slot_take(base, owner, timeout)
        while held is None:
            if time.monotonic() > deadline:
                logger.warning("no request slot freed for %.0f s; going on without one", self.slot_seconds)
                held = ""
                break
            # Known to be waiting for the next two seconds: the holder lets this one go first.
            self._cache_call(lambda cache: cache.set(f"{base}:waiting", self.id, timeout=2))
            time.sleep(SLOT_POLL_SECONDS)
            held = self._slot_take(base, owner, timeout)
        try:
            yield
        finally:
            if held:
                self._cache_call(lambda cache: cache.delete(held) if cache.get(held) == owner else None)

    def _slot_take(self, base: str, owner: str, timeout: int) -> str | None:
        """A free slot's key, now held by `owner`; "" when the cache fails (no slots at all); None when all are taken."""
        found = self._cache_call(lambda cache: cache.get_many([f"{base}:last", f"{base}:waiting"]), None)
        if found is None:
            return ""
        if found.get(f"{base}:last") == self.id and found.get(f"{base}:waiting") not in (None, self.id):
            return None  # another worker's turn
        for index in range(self.concurrency):
            key = f"{base}:slot:{index}"
            added = self._cache_call(lambda cache, key=key: cache.add(key, owner, timeout=timeout), None)
            if added is None:
                return ""
            if added:
                if found.get(f"{base}:last") != self.id:
                    self._cache_call(lambda cache: cache.set(f"{base}:last", self.id, timeout=timeout))
                return key
        return None

    def _cache_call(self, call, default=None):
        try:
            from django.core.cache import cache

            return call(cache)
        except Exception as error:  # noqa: BLE001 - a cache outage must not stop a sync
            if not self._warned:
                logger.warning("the shared token budget is unavailable (%s: %s); this sync counts alone",
                               type(error).__name__, error)
                self._warned = True
            return default
