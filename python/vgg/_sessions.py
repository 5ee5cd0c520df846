"""The sessions of one Model: a bounded pool, one session per concurrent caller.

A vgg_session must be used by one thread at a time; a vgg_model by any number. So a Model
shared by several Python threads hands each running call a session of its own: taken from the
idle ones, made on demand while fewer than `limit` exist, otherwise waited for. The options
set on the Model are the pool's; a session catches up with them when it is taken, so every
call runs with the options set before it started, whichever session it gets.
"""
from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager
from typing import Dict, Iterator, List

from . import _lib
from ._lib import check_as, lib

OPTIONS = (_lib.OPTION_THREADS, _lib.OPTION_FORCE_REFERENCE, _lib.OPTION_ISA, _lib.OPTION_WINOGRAD,
           _lib.OPTION_BF16_ARITHMETIC)


class _Session:
    """One vgg_session and the option values it has (as last set or read)."""

    def __init__(self, model: ctypes.c_void_p, where: str):
        self.handle = ctypes.c_void_p()
        check_as(lib.vgg_session_create(model, ctypes.byref(self.handle)), where)
        self.options: Dict[int, int] = {}
        value = ctypes.c_int64()
        try:
            for option in OPTIONS:
                check_as(lib.vgg_session_get_option(self.handle, option, ctypes.byref(value)), where)
                self.options[option] = value.value
        except BaseException:
            self.free()
            raise

    def set(self, option: int, value: int, where: str) -> None:
        check_as(lib.vgg_session_set_option(self.handle, option, value), where)
        self.options[option] = value

    def free(self) -> None:
        if self.handle:
            lib.vgg_session_free(self.handle)
            self.handle = ctypes.c_void_p()


class SessionPool:
    """Up to `limit` sessions of one opened model. Thread-safe."""

    def __init__(self, model_handle, limit: int, where: str):
        self._model_handle = model_handle  # a _ModelHandle: keeps the model open while the pool lives
        self.limit = limit
        self._changed = threading.Condition()
        self._closed = False
        first = _Session(model_handle.handle, where)  # made now: open errors show at Model(...)
        self._idle: List[_Session] = [first]
        self._count = 1
        self._busy = 0
        self._options: Dict[int, int] = dict(first.options)  # what every call runs with

    @property
    def size(self) -> int:
        """Sessions made so far (idle or running a call)."""
        with self._changed:
            return self._count

    def model(self, where: str):
        """The model's _ModelHandle, for the model-level calls (thread-safe in C); holding it
        keeps the model open through the call even if close() runs meanwhile."""
        with self._changed:
            if self._closed:
                raise _lib.Error(1, f"{where}: the model is closed")
            return self._model_handle

    def option(self, option: int) -> int:
        with self._changed:
            return self._options[option]

    @contextmanager
    def session(self, where: str) -> Iterator[ctypes.c_void_p]:
        """A session for the calling thread alone, with the pool's options, for the duration of
        the `with` block; waits while `limit` sessions are busy."""
        s = self._take(where)
        try:
            with self._changed:
                wanted = dict(self._options)
            for option, value in wanted.items():
                if s.options.get(option) != value:
                    s.set(option, value, where)
            yield s.handle
        finally:
            self._give_back(s)

    def set_option(self, option: int, value: int, where: str) -> None:
        """Sets `option` for every later call; the library checks it on one session first
        (an ISA level this CPU lacks is refused here, not at the next run)."""
        s = self._take(where)
        try:
            s.set(option, value, where)
            with self._changed:
                self._options[option] = value
        finally:
            self._give_back(s)

    def _take(self, where: str) -> _Session:
        with self._changed:
            while True:
                if self._closed:
                    raise _lib.Error(1, f"{where}: the model is closed")
                if self._idle:
                    self._busy += 1
                    return self._idle.pop()  # the most recently used: its workspace is warm
                if self._count < self.limit:
                    self._count += 1
                    self._busy += 1
                    break
                self._changed.wait()
        try:
            return _Session(self._model_handle.handle, where)
        except BaseException:
            with self._changed:
                self._count -= 1
                self._busy -= 1
                self._changed.notify_all()
            raise

    def _give_back(self, s: _Session) -> None:
        with self._changed:
            self._busy -= 1
            if self._closed:
                self._count -= 1
                s.free()  # close() is waiting for it; the call that used it is over
            else:
                self._idle.append(s)
            self._changed.notify_all()

    def close(self) -> None:
        """Refuses new calls, frees the idle sessions and waits for running calls to end (each
        frees its session as it ends). Idempotent."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            for s in idle:
                s.free()
            while self._busy:
                self._changed.wait()
            self._model_handle = None
