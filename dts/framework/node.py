"""Node session: runs commands on the system under test.

DPDK's DTS drives remote nodes over SSH; our nodes are network namespaces on
this host, so a session prefixes commands with ``ip netns exec <ns>``. A
namespace-less session runs in the root namespace (used to build and tear
down the topology). ``user`` drops privileges with setpriv so suites can
check access control as an unprivileged uid.
"""
from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
from dataclasses import dataclass
from typing import IO, Mapping, Sequence

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if pytest dies (even by
    # SIGKILL) the child gets SIGTERM instead of outliving the run. It
    # survives the exec of `ip netns exec` and of the binary it runs.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class CommandError(RuntimeError):
    pass


@dataclass(frozen=True)
class User:
    """An unprivileged identity for setpriv."""
    uid: int = 65534
    gid: int = 65534

    def prefix(self) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                "--clear-groups", "--"]


NOBODY = User()


class LocalNode:
    """Runs commands on this host, optionally inside a namespace."""

    def __init__(self, netns: str | None = None):
        self.netns = netns

    def in_netns(self, netns: str) -> "LocalNode":
        return LocalNode(netns)

    def argv(self, argv: Sequence[str], user: User | None = None) -> list[str]:
        full = [str(a) for a in argv]
        if user is not None:
            full = user.prefix() + full
        if self.netns is not None:
            full = ["ip", "netns", "exec", self.netns] + full
        return full

    def run(self, argv: Sequence[str], *, check: bool = True, timeout: float = 30,
            user: User | None = None, env: Mapping[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
        full = self.argv(argv, user)
        try:
            cp = subprocess.run(full, capture_output=True, text=True, timeout=timeout,
                                env=dict(env) if env is not None else None, input=input,
                                preexec_fn=_die_with_parent)
        except subprocess.TimeoutExpired as e:
            raise CommandError(f"timed out after {timeout}s: {' '.join(full)}") from e
        if check and cp.returncode != 0:
            raise CommandError(f"exit {cp.returncode}: {' '.join(full)}\n"
                               f"stdout: {cp.stdout.strip()}\nstderr: {cp.stderr.strip()}")
        return cp

    def popen(self, argv: Sequence[str], *, stdout: IO | int, stderr: IO | int,
              user: User | None = None,
              env: Mapping[str, str] | None = None) -> subprocess.Popen:
        # `ip netns exec` execs the command in place (no fork), so the Popen
        # pid is the binary's own pid: signals and pid checks hit the binary.
        return subprocess.Popen(self.argv(argv, user), stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=stderr,
                                env=dict(env) if env is not None else None,
                                preexec_fn=_die_with_parent)


def have_command(name: str) -> bool:
    return shutil.which(name) is not None
