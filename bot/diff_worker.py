"""Fitting a large diff to the review budget in a worker process, so the event loop, and with it
every Slack ack, never waits for it (a 5 MB diff is ~0.4-0.8 s of pure Python, a 34 MB one
rebuilt from the files API several seconds; a thread would hold the GIL all that time).

One long-lived worker, started on the first large diff and stopped with the bot (`shutdown`).
It is its own small program (`serve`, run as `python -I -c "…serve()"`), not a
multiprocessing child: multiprocessing's "spawn" and "forkserver" re-run the parent's
`__main__` in every worker when the bot was started as a script (the `backend-engineer`
console script: it imports bot.cli, the Claude SDK and all, ~2 s and ~90 MB in the worker),
and "fork" copies a threaded process. This worker imports bot.review and the standard
library only, whatever started the bot. Requests and replies are pickles, length-prefixed, on
its stdin and stdout; the parent's side is one thread that blocks on those pipes (no GIL held).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, cast

from bot.errors import DiffWorkerFailed
from bot.logs import log_event
from bot.review import fit_diff

log = logging.getLogger(__name__)

# Below this (characters) a diff is fitted inline: ~20 ms at most, less than a round trip's worth
# of trouble. Above it, the worker.
INLINE_MAX_CHARS = 256 * 1024
TIMEOUT_S = 60.0  # a fit taking longer than this is given up (the worker is killed and replaced)

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where `bot` is imported from
_BOOT = f"import sys; sys.path.insert(0, {_ROOT!r}); from bot.diff_worker import serve; serve()"
_HEADER = struct.Struct("!Q")


async def fit_diff_off_loop(diff: str) -> tuple[str, tuple[str, ...]]:
    """`review.fit_diff(diff)`, in the worker process when the diff is large enough to stall
    the event loop. Raises DiffWorkerFailed if the worker crashes or times out."""
    if len(diff) <= INLINE_MAX_CHARS:
        return fit_diff(diff)
    global _worker
    if _worker is None:
        _worker = _Worker()
    return await asyncio.wrap_future(_worker.submit(diff))


def shutdown() -> None:
    """Stop the worker (when the bot stops). Cheap, never blocks for long; safe to call twice."""
    global _worker
    worker, _worker = _worker, None
    if worker is not None:
        worker.close()


class _Worker:
    def __init__(self) -> None:
        # Every pipe operation happens on this one thread, so requests are served one at a time.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="diff-worker")
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False

    def submit(self, diff: str) -> Future[tuple[str, tuple[str, ...]]]:
        return self._io.submit(self._fit, diff)

    def close(self) -> None:
        self._closed = True
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()  # a fit in flight ends now; its request fails as "the bot is stopping"
        self._io.submit(self._stop_process)  # after whatever the thread is doing
        self._io.shutdown(wait=False)

    def _fit(self, diff: str) -> tuple[str, tuple[str, ...]]:
        if self._closed:
            raise DiffWorkerFailed("the bot is stopping")
        if self._process is None or self._process.poll() is not None:  # not started yet, or died idle
            self._stop_process()
            try:
                self._process = subprocess.Popen(
                    [sys.executable, "-I", "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
                )
            except OSError as error:
                log_event(log, "diff_worker_failed", logging.WARNING, started=False, error=repr(error)[:200])
                raise DiffWorkerFailed("the process to prepare it could not start") from error
            log_event(log, "diff_worker_started", pid=self._process.pid)
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        timed_out = threading.Event()

        def give_up() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(TIMEOUT_S, give_up)
        timer.daemon = True
        timer.start()
        try:
            _send(process.stdin, diff)
            status, value = cast(tuple[str, Any], _receive(process.stdout))
        except (OSError, EOFError, ValueError, pickle.UnpicklingError) as error:
            self._stop_process()
            if self._closed:
                raise DiffWorkerFailed("the bot is stopping") from error
            reason = (
                f"preparing it took longer than {TIMEOUT_S:g} s"
                if timed_out.is_set()
                else "the process preparing it stopped unexpectedly"
            )
            log_event(
                log,
                "diff_worker_failed",
                logging.WARNING,
                pid=process.pid,
                exit_code=process.returncode,
                timed_out=timed_out.is_set(),
                chars=len(diff),
                error=repr(error)[:200],
            )
            raise DiffWorkerFailed(reason) from error
        finally:
            timer.cancel()
        if status != "ok":  # fit_diff itself raised: a bug, reported like one raised inline
            raise RuntimeError(f"fit_diff failed in the diff worker:\n{value}")
        return value

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for pipe in (process.stdin, process.stdout):
            try:
                pipe and pipe.close()
            except OSError:
                pass


_worker: _Worker | None = None


def _send(stream: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the diff worker closed its pipe")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the diff worker closed its pipe mid-message")
    return pickle.loads(data)


# -- the worker process ------------------------------------------------------------------


def serve() -> None:
    """The worker: fit each diff read from stdin, write the result to stdout, until stdin closes
    (the bot stopped, or died)."""
    # The bot decides when this process ends: Ctrl-C in a terminal or a SIGTERM to the whole
    # group must not cut a fit short behind its back (or print a traceback).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.nice(10)  # when the cores are busy, the bot's event loop goes first
    except OSError:
        pass
    requests = os.fdopen(0, "rb")
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the replies
    while True:
        try:
            diff = _receive(requests)
        except EOFError:
            return
        try:
            reply: tuple[str, object] = ("ok", fit_diff(diff))
        except Exception:  # noqa: BLE001
            reply = ("error", traceback.format_exc())
        try:
            _send(replies, reply)
        except BrokenPipeError:
            return
