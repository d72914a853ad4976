"""Work started after an ack, tracked so a shutdown can wait for answers in flight."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Coroutine, Hashable
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def submit(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)  # a strong reference: the loop keeps only weak ones
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float, cleanup: float = 5.0) -> int:
        """Wait up to `timeout` seconds for work in flight, then cancel the rest and give it
        `cleanup` seconds to tell its users; returns how many had to be cancelled."""
        if not self._tasks:
            return 0
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=cleanup)
        return len(pending)


class KeyedLocks:
    """One lock per key (e.g. per thread), forgotten when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: Counter[Hashable] = Counter()

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    def busy(self, key: Hashable) -> bool:
        return key in self._locks and self._locks[key].locked()

    def __len__(self) -> int:
        return len(self._locks)


class Slot:
    """One of a semaphore's places, held by a piece of work that may give it up for a while
    (to wait for something else) and take it back."""

    def __init__(self, semaphore: asyncio.Semaphore):
        self._semaphore = semaphore
        self.held = True  # acquired by whoever made it

    def give_up(self) -> None:
        if self.held:
            self.held = False
            self._semaphore.release()

    async def take_back(self) -> None:
        if not self.held:
            await self._semaphore.acquire()
            self.held = True
