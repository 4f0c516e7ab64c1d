"""Micro-batching: concurrent requests' images go through the models together, in one call per batch.

A single worker thread owns the model calls. Request handlers put items into a queue and await a future; the
worker takes the first waiting item, keeps collecting until ``max_batch`` items or ``max_wait_ms`` after the
first one, calls ``fn`` once on the whole batch and hands each caller its own result. Hand-written (~60 lines)
because the batching libraries on PyPI either pull in a model-serving framework or are unmaintained.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

log = logging.getLogger("osld.serve")


class MicroBatcher:
    """Run ``fn(items) -> results`` (same length, same order) on batches of items submitted from any thread.

    Args:
        fn: the batched function; an exception fails every item of that batch, the worker keeps going.
        max_batch: most items per call.
        max_wait_ms: longest an item waits for others to join its batch.
        on_batch: called with each batch's size (metrics).
    """

    def __init__(self, fn: Callable[[list[Any]], Sequence[Any]], max_batch: int = 8, max_wait_ms: float = 5.0,
                 on_batch: Callable[[int], None] | None = None):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.on_batch = on_batch
        self._queue: queue.Queue[tuple[Any, Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="osld-batcher", daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> Future:
        fut: Future = Future()
        self._queue.put((item, fut))
        return fut

    async def __call__(self, item: Any) -> Any:
        """Await the result of one item from async code."""
        return await asyncio.wrap_future(self.submit(item))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._run(batch)
            if stop:
                return

    def _run(self, batch: list[tuple[Any, Future]]) -> None:
        live = [(item, fut) for item, fut in batch if fut.set_running_or_notify_cancel()]
        if not live:
            return
        if self.on_batch is not None:
            self.on_batch(len(live))
        try:
            results = self.fn([item for item, _ in live])
        except BaseException as e:  # the callers report it; the worker must survive for the next batch
            for _, fut in live:
                fut.set_exception(e)
            return
        for (_, fut), res in zip(live, results, strict=True):
            fut.set_result(res)
