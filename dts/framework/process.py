"""Process wrappers: a binary running in a namespace, as a context manager.

A ManagedProcess starts its argv through a node session, sends stdout and
stderr to <artifacts>/<name>.log (one file per incarnation: name.log,
name.1.log, ... after restarts), waits for a readiness condition with a
deadline, and stops with SIGTERM then SIGKILL. Leaving the context (or
check()) fails the test when any incarnation
  - wrote a sanitizer report, or an err-level line no allowed regex matches,
  - exited on its own when nobody expected it to,
  - did not exit 0 on SIGTERM (or another accepted status: stop_ok), or
    needed SIGKILL to stop.
kill9() and wait_exit() record that the end was intended.

run_logged() is the one-shot counterpart (spctl, a binary expected to
refuse its config): output saved to a log, sanitizer reports fail the test.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection, Iterable, Mapping, Pattern, Sequence

from .logcheck import SANITIZER_RE, compile_allowed, scan_file, scan_text, tail
from .node import LocalNode, User
from .wait import DtsFailure, WaitTimeout, wait_until

SANITIZER_ENV = {
    "ASAN_OPTIONS": ("detect_leaks=1:abort_on_error=0:halt_on_error=1:"
                     "detect_stack_use_after_return=1"),
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    "LSAN_OPTIONS": "report_objects=1",
}


class ProcessFailure(DtsFailure):
    pass


def sanitizer_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    for k, v in SANITIZER_ENV.items():
        env.setdefault(k, v)
    if extra:
        env.update(extra)
    return env


@dataclass
class Incarnation:
    popen: subprocess.Popen
    log_path: Path
    started: float
    end: str = "running"  # running | stopped | killed | expected-exit | crashed
    rc: int | None = None
    problems: list[str] = field(default_factory=list)


def _rc_text(rc: int | None) -> str:
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit {rc}"


class ManagedProcess:
    def __init__(self, node: LocalNode, name: str, argv: Sequence[str], log_dir: Path, *,
                 ready: Callable[[], object] | None = None, ready_timeout: float = 30.0,
                 stop_timeout: float = 15.0, allowed_errors: Iterable[str | Pattern] = (),
                 env: Mapping[str, str] | None = None, user: User | None = None,
                 stop_ok: Collection[int] = (0,)):
        self.node = node
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_dir = Path(log_dir)
        self.ready = ready
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.allowed = compile_allowed(allowed_errors)
        self.env = sanitizer_env(env)
        self.user = user
        self.stop_ok = tuple(stop_ok)  # statuses accepted after SIGTERM (-15: died of it)
        self.incarnations: list[Incarnation] = []

    # -- state -------------------------------------------------------------
    @property
    def current(self) -> Incarnation:
        if not self.incarnations:
            raise RuntimeError(f"{self.name} was never started")
        return self.incarnations[-1]

    @property
    def pid(self) -> int:
        return self.current.popen.pid

    @property
    def log_path(self) -> Path:
        return self.current.log_path

    def alive(self) -> bool:
        return bool(self.incarnations) and self.current.popen.poll() is None

    def log_text(self) -> str:
        return self.current.log_path.read_text(errors="replace")

    def allow_errors(self, *patterns: str | Pattern) -> None:
        self.allowed.extend(compile_allowed(patterns))

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "ManagedProcess":
        if self.incarnations and self.alive():
            raise RuntimeError(f"{self.name} already running (pid {self.pid})")
        n = len(self.incarnations)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / (f"{self.name}.log" if n == 0 else f"{self.name}.{n}.log")
        with open(log_path, "wb") as log:
            log.write(f"# {' '.join(self.argv)}\n".encode())
            log.flush()
            popen = self.node.popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                    user=self.user, env=self.env)
        inc = Incarnation(popen, log_path, time.monotonic())
        self.incarnations.append(inc)
        if self.ready is not None:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        def ready() -> object:
            if not self.alive():
                self._note_exit()
                raise ProcessFailure(self._died_msg("while starting"))
            return self.ready()
        try:
            wait_until(ready, timeout or self.ready_timeout, what=f"{self.name} ready")
        except WaitTimeout as e:
            raise ProcessFailure(f"{self.name} (pid {self.pid}) not ready: {e}\n"
                                 f"--- {self.log_path} (tail)\n{tail(self.log_path)}") from None

    def _died_msg(self, when: str) -> str:
        inc = self.current
        return (f"{self.name} (pid {inc.popen.pid}) died {when}: {_rc_text(inc.rc)}\n"
                f"--- {inc.log_path} (tail)\n{tail(inc.log_path)}")

    def _note_exit(self) -> None:
        """Record an exit nobody asked for."""
        inc = self.current
        inc.rc = inc.popen.poll()
        if inc.rc is not None and inc.end == "running":
            inc.end = "crashed"
            inc.problems.append(f"{self.name} (pid {inc.popen.pid}) exited unexpectedly: "
                                f"{_rc_text(inc.rc)}")

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill9(self, timeout: float = 10.0) -> int:
        """SIGKILL the current incarnation (an intended crash). Returns its pid."""
        inc = self.current
        if inc.popen.poll() is not None:
            self._note_exit()
            raise ProcessFailure(self._died_msg("before kill -9"))
        inc.popen.send_signal(signal.SIGKILL)
        inc.rc = inc.popen.wait(timeout)
        inc.end = "killed"
        return inc.popen.pid

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, wait, SIGKILL as a last resort. Returns the exit status."""
        if not self.incarnations:
            return None
        inc = self.current
        if inc.end != "running":
            return inc.rc
        if inc.popen.poll() is not None:
            self._note_exit()
            return inc.rc
        inc.popen.send_signal(signal.SIGTERM)
        try:
            inc.rc = inc.popen.wait(timeout or self.stop_timeout)
        except subprocess.TimeoutExpired:
            inc.popen.send_signal(signal.SIGKILL)
            inc.rc = inc.popen.wait(10)
            inc.problems.append(f"{self.name} (pid {inc.popen.pid}) ignored SIGTERM for "
                                f"{timeout or self.stop_timeout}s; SIGKILLed")
        inc.end = "stopped"
        if inc.rc not in self.stop_ok and not inc.problems:
            inc.problems.append(f"{self.name} (pid {inc.popen.pid}) stopped by SIGTERM with "
                                f"{_rc_text(inc.rc)}, expected "
                                f"{' or '.join(_rc_text(c) for c in self.stop_ok)}")
        return inc.rc

    def wait_exit(self, timeout: float = 20.0) -> int:
        """Wait for a process expected to exit on its own; returns its status."""
        inc = self.current
        try:
            inc.rc = inc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ProcessFailure(f"{self.name} (pid {inc.popen.pid}) still running after "
                                 f"{timeout}s\n--- {inc.log_path} (tail)\n"
                                 f"{tail(inc.log_path)}") from None
        inc.end = "expected-exit"
        return inc.rc

    def restart(self) -> "ManagedProcess":
        if self.alive():
            self.stop()
        else:
            self._note_exit()
        return self.start()

    # -- verdict -----------------------------------------------------------
    def problems(self) -> list[str]:
        out = []
        for inc in self.incarnations:
            if inc.end == "running" and inc.popen.poll() is not None:
                inc.rc = inc.popen.returncode
                inc.end = "crashed"
                inc.problems.append(f"{self.name} (pid {inc.popen.pid}) exited unexpectedly: "
                                    f"{_rc_text(inc.rc)}")
            out.extend(inc.problems)
            out.extend(scan_file(inc.log_path, self.allowed))
        return out

    def check(self) -> None:
        problems = self.problems()
        if problems:
            raise ProcessFailure("\n".join(problems))

    def __enter__(self) -> "ManagedProcess":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
        finish(exc, [self])


def finish(exc: BaseException | None, procs: Iterable[ManagedProcess]) -> None:
    """Shared __exit__ verdict: raise the processes' problems, or attach them
    as notes to the exception already on its way out."""
    problems = [p for proc in procs for p in proc.problems()]
    if not problems:
        return
    if exc is None:
        raise ProcessFailure("\n".join(problems))
    if hasattr(exc, "add_note"):
        exc.add_note("process problems:\n" + "\n".join(problems))


@dataclass
class RunResult:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    log_path: Path | None


def run_logged(node: LocalNode, argv: Sequence[str], *, log_path: Path | None = None,
               timeout: float = 30.0, user: User | None = None,
               env: Mapping[str, str] | None = None) -> RunResult:
    """Run a command to completion; keep its output; fail on a sanitizer report."""
    cp = node.run(argv, check=False, timeout=timeout, user=user, env=sanitizer_env(env))
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as f:
            f.write(f"# {' '.join(node.argv(argv, user))}\n# exit {cp.returncode}\n")
            f.write(cp.stdout)
            if cp.stderr:
                f.write("# stderr:\n" + cp.stderr)
    if SANITIZER_RE.search(cp.stderr) or SANITIZER_RE.search(cp.stdout):
        raise ProcessFailure("\n".join(scan_text(cp.stderr + cp.stdout, source=argv[0])
                                       or [f"sanitizer report from {argv[0]}"]))
    return RunResult([str(a) for a in argv], cp.returncode, cp.stdout, cp.stderr, log_path)
