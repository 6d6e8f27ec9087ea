"""api: the only layer suites import.

    from api import Streampoint, spctl, kill9, restart, wait_until

Streampoint starts spdp and spcp in a namespace with generated configs;
spctl() runs the operator tool and parses its JSON; kill9()/restart() crash
and revive a process on purpose; wait_until() polls with a deadline.
Everything a suite starts is checked for sanitizer reports and unexpected
error lines when it stops.
"""
from framework.node import NOBODY, User
from framework.process import ManagedProcess, ProcessFailure, RunResult
from framework.wait import WaitTimeout, wait_until

from .streampoint import (Streampoint, SpctlResult, ini_text, kill9, process, restart,
                          run_binary, spctl)

__all__ = [
    "Streampoint", "SpctlResult", "spctl", "kill9", "restart", "wait_until", "run_binary",
    "process", "ini_text", "ManagedProcess", "ProcessFailure", "RunResult", "WaitTimeout",
    "NOBODY", "User",
]
