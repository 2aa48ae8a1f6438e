"""Group commit for any batched operation.

Callers hand :meth:`GroupCommit.submit` an item and block (their greenlet only) until the
batch that carried it has been processed. One worker greenlet gathers whatever arrived
during a short window, or until ``max_items`` are waiting, and calls ``process(items)``
once for all of them; ``process`` returns one result per item, in order, or raises, in
which case every caller of that batch gets the exception. Batches run one after another,
in submission order, so what is submitted first is processed first.
"""
from collections import deque

import gevent
from gevent.event import AsyncResult, Event


class GroupCommit:
    def __init__(self, process, delay_ms: float = 2.0, max_items: int = 1000, weight=None):
        self._process = process
        self._delay = delay_ms / 1000.0
        self._max = max_items
        self._weight = weight or (lambda item: 1)
        self._queue: deque = deque()
        self._wakeup = Event()
        self._worker = None
        self.batches = 0  # observed by the benchmark

    def queue_depth(self) -> int:
        return len(self._queue)

    def submit(self, item):
        """Queue ``item`` and return its result once its batch is done."""
        done = AsyncResult()
        self._queue.append((item, done))
        if self._worker is None or self._worker.dead:
            self._worker = gevent.spawn(self._run)
        self._wakeup.set()
        return done.get()

    def _run(self):
        while True:
            self._wakeup.wait()
            if self._delay:
                gevent.sleep(self._delay)
            self._wakeup.clear()
            while self._queue:
                self._run_batch(self._take())

    def _take(self) -> list:
        batch, weight = [], 0
        while self._queue:
            w = self._weight(self._queue[0][0])
            if batch and weight + w > self._max:
                break
            batch.append(self._queue.popleft())
            weight += w
        return batch

    def _run_batch(self, batch: list):
        try:
            results = self._process([item for item, _ in batch])
        except BaseException as exc:  # every caller of this batch learns why
            for _, done in batch:
                done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.batches += 1
        for (_, done), result in zip(batch, results):
            if isinstance(result, BaseException):
                done.set_exception(result)
            else:
                done.set(result)
