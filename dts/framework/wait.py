"""Polling with a deadline: the only way suites wait for something.

No suite asserts how fast something happens; it waits (generously) until a
condition holds and fails with the last observed value when it never does.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


class DtsFailure(AssertionError):
    """A failure no retry can fix (a process crashed): wait_until re-raises it."""


class WaitTimeout(AssertionError):
    pass


def wait_until(fn: Callable[[], T], timeout: float = 20.0, interval: float = 0.1,
               what: str | None = None) -> T:
    """Call fn until it returns something truthy; return that value.

    Exceptions from fn count as "not yet" (the thing may not exist yet),
    except DtsFailure; the last one, or the last falsy value, is reported
    when the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            v = fn()
            if v:
                return v
            last = v
        except DtsFailure:
            raise
        except Exception as e:  # noqa: BLE001 - "not ready yet", asserts included
            last = e
        if time.monotonic() >= deadline:
            name = what or getattr(fn, "__name__", "condition")
            raise WaitTimeout(f"{name} not true within {timeout}s; last: {last!r}")
        time.sleep(interval)
