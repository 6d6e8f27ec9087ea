"""Streampoint: spdp + spcp of one instance in one namespace, and spctl.

    with Streampoint(topology.ns("sp"), artifacts, workers=2) as sp:
        st = sp.status()              # spctl status --json, parsed
        kill9(sp.spcp); restart(sp.spcp)

Each Streampoint gets a fresh runtime dir (/tmp/spdts<pid>-rt-XXXX, swept
when its run is dead) and writes spdp.ini/spcp.ini into the test's
artifacts dir from defaults plus the suite's overrides. A process counts as
ready when `spctl status` reports it reachable under its own pid, so ready
means "serving", not merely "socket file exists" (a stale socket file
from a killed incarnation would lie).
"""
from __future__ import annotations

import copy
import json
import shutil
import signal
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Pattern, Sequence

from framework import settings
from framework.node import User
from framework.process import ManagedProcess, RunResult, finish, run_logged
from framework.topology import Namespace

Sections = Mapping[str, Mapping[str, Any]]

SPDP_DEFAULTS: dict[str, dict[str, Any]] = {
    "spdp": {"instance": None, "runtime_dir": None, "workers": 2, "log_level": "info",
             "ctl_group": ""},
    "rings": {"main_bytes": "256K", "cmd_bytes": "1M", "evt_bytes": "1M", "exc_bytes": "4M"},
}
SPCP_DEFAULTS: dict[str, dict[str, Any]] = {
    "spcp": {"instance": None, "runtime_dir": None, "log_level": "info", "ctl_group": "",
             "heartbeat_ms": 1000, "reattach_min_ms": 100, "reattach_max_ms": 2000},
    "telemetry": {"dpdk_link": "false"},
}


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def ini_text(sections: Sections) -> str:
    """INI text from {section: {key: value}}; a None value leaves the key out."""
    out = []
    for sec, keys in sections.items():
        out.append(f"[{sec}]")
        out.extend(f"{k} = {_fmt(v)}" for k, v in keys.items() if v is not None)
        out.append("")
    return "\n".join(out)


def merge(base: Sections, over: Sections | None) -> dict[str, dict[str, Any]]:
    """base with over applied; over's None values delete keys."""
    out = copy.deepcopy({s: dict(k) for s, k in base.items()})
    for sec, keys in (over or {}).items():
        dst = out.setdefault(sec, {})
        for k, v in keys.items():
            if v is None:
                dst.pop(k, None)
            else:
                dst[k] = v
    return out


@dataclass
class SpctlResult:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    json: Any = None

    @property
    def spdp(self) -> dict:
        return (self.json or {}).get("spdp") or {}

    @property
    def spcp(self) -> dict:
        return (self.json or {}).get("spcp") or {}

    def __str__(self) -> str:
        return (f"spctl exit {self.rc}: {self.stdout.strip()[:2000]}"
                + (f" stderr: {self.stderr.strip()[:500]}" if self.stderr.strip() else ""))


class Streampoint:
    def __init__(self, ns: Namespace, artifacts: Path, *, instance: str = "sp",
                 workers: int = 2, spdp: Sections | None = None, spcp: Sections | None = None,
                 spdp_args: Sequence[str] = (), spcp_args: Sequence[str] = (),
                 allowed_errors: Iterable[str | Pattern] = (),
                 start: Sequence[str] = ("spdp", "spcp"), ready_timeout: float = 30.0):
        self.ns = ns
        self.node = ns.node
        self.artifacts = Path(artifacts)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.bins = settings.require_binaries()
        self.instance = instance
        self.start_order = tuple(start)
        self.runtime_dir = Path(tempfile.mkdtemp(prefix=f"{ns.prefix}rt-"))
        # World-traversable, so an access-control test meets the processes'
        # own checks rather than this directory's mode.
        self.runtime_dir.chmod(0o755)
        common = {"instance": instance, "runtime_dir": str(self.runtime_dir)}
        self.spdp_config = merge(merge(SPDP_DEFAULTS, {"spdp": {**common, "workers": workers}}),
                                 spdp)
        self.spcp_config = merge(merge(SPCP_DEFAULTS, {"spcp": common}), spcp)
        self.spdp_ini = self.artifacts / "spdp.ini"
        self.spcp_ini = self.artifacts / "spcp.ini"
        self.spdp_ini.write_text(ini_text(self.spdp_config))
        self.spcp_ini.write_text(ini_text(self.spcp_config))
        self.allowed_errors = list(allowed_errors)
        self.spdp = ManagedProcess(self.node, "spdp",
                                   [self.bins.spdp, "-c", self.spdp_ini, *spdp_args],
                                   self.artifacts, ready=self._spdp_ready,
                                   ready_timeout=ready_timeout, allowed_errors=allowed_errors)
        self.spcp = ManagedProcess(self.node, "spcp",
                                   [self.bins.spcp, "-c", self.spcp_ini, *spcp_args],
                                   self.artifacts, ready=self._spcp_ready,
                                   ready_timeout=ready_timeout, allowed_errors=allowed_errors)
        self.extra: list[ManagedProcess] = []

    # -- paths -------------------------------------------------------------
    @property
    def instance_dir(self) -> Path:
        return self.runtime_dir / self.instance

    def socket_files(self) -> list[Path]:
        d = self.instance_dir
        if not d.is_dir():
            return []
        return sorted(p for p in d.iterdir() if stat.S_ISSOCK(p.lstat().st_mode))

    # -- spctl -------------------------------------------------------------
    def spctl(self, *args: str, user: User | None = None, as_json: bool = True,
              timeout: float = 20.0, log: str = "spctl.log") -> "SpctlResult":
        argv = [str(self.bins.spctl), "-i", self.instance, "-r", str(self.runtime_dir)]
        if as_json:
            argv.append("--json")
        argv.extend(args)
        r = run_logged(self.node, argv, log_path=self.artifacts / log, timeout=timeout, user=user)
        parsed = None
        if as_json and r.stdout.strip():
            try:
                parsed = json.loads(r.stdout)
            except json.JSONDecodeError:
                parsed = None
        return SpctlResult(r.argv, r.rc, r.stdout, r.stderr, parsed)

    def status(self, **kw: Any) -> SpctlResult:
        return self.spctl("status", **kw)

    def _spdp_ready(self) -> bool:
        d = self.spctl("status", log="ready-probes.log").spdp
        return bool(d.get("reachable")) and d.get("pid") == self.spdp.pid

    def _spcp_ready(self) -> bool:
        c = self.spctl("status", log="ready-probes.log").spcp
        return bool(c.get("reachable")) and c.get("pid") == self.spcp.pid

    def config_with(self, which: str, overrides: Sections) -> dict[str, dict[str, Any]]:
        """This instance's spdp or spcp config with overrides (None deletes a key),
        e.g. to feed run_binary() a config that differs in one key."""
        base = {"spdp": self.spdp_config, "spcp": self.spcp_config}[which]
        return merge(base, overrides)

    # -- more processes ----------------------------------------------------
    def new_spcp(self, name: str, *, config: Sections | None = None, ready: Any = None,
                 allowed_errors: Iterable[str | Pattern] = ()) -> ManagedProcess:
        """Another spcp for this instance (not started). Checked at exit like the others."""
        ini = self.artifacts / f"{name}.ini"
        ini.write_text(ini_text(merge(self.spcp_config, config)))
        p = ManagedProcess(self.node, name, [self.bins.spcp, "-c", ini], self.artifacts,
                           ready=ready, allowed_errors=[*self.allowed_errors, *allowed_errors])
        self.extra.append(p)
        return p

    def processes(self) -> list[ManagedProcess]:
        return [*self.extra, self.spcp, self.spdp]

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "Streampoint":
        for name in self.start_order:
            getattr(self, name).start()
        return self

    def stop(self) -> None:
        """SIGTERM everything: extra spcps, spcp, then spdp."""
        for p in self.processes():
            p.stop()

    def __enter__(self) -> "Streampoint":
        try:
            return self.start()
        except BaseException:
            self.stop()
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.stop()
            finish(exc, self.processes())
        finally:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)


def process(ns: Namespace, name: str, argv: Sequence[str], artifacts: Path,
            **kw: Any) -> ManagedProcess:
    """Any other program (a broker, a client) as a checked process in ns; use it
    as a context manager. Keyword arguments go to ManagedProcess (ready=,
    allowed_errors=, stop_timeout=, env=, user=, stop_ok=). Unlike our
    daemons, a foreign program may die of SIGTERM without complaint."""
    kw.setdefault("stop_ok", (0, -signal.SIGTERM))
    return ManagedProcess(ns.node, name, argv, Path(artifacts), **kw)


def spctl(sp: Streampoint, *args: str, **kw: Any) -> SpctlResult:
    """`spctl -i <instance> -r <runtime_dir> --json <args>` in sp's namespace."""
    return sp.spctl(*args, **kw)


def kill9(proc: ManagedProcess) -> int:
    """SIGKILL proc (an intended crash: not reported as a failure). Returns its pid."""
    return proc.kill9()


def restart(proc: ManagedProcess) -> ManagedProcess:
    """Start proc again (stopping it first if it runs) and wait until it is ready."""
    return proc.restart()


def run_binary(ns: Namespace, artifacts: Path, which: str, config: Sections | str, *,
               args: Sequence[str] = (), name: str | None = None,
               timeout: float = 20.0) -> RunResult:
    """Run spdp/spcp once with a config expected to make it exit (e.g. a bad one).
    Output goes to <artifacts>/<name>.log; a sanitizer report fails the test."""
    bins = settings.require_binaries()
    binary = {"spdp": bins.spdp, "spcp": bins.spcp, "spctl": bins.spctl}[which]
    name = name or which
    artifacts = Path(artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    ini = artifacts / f"{name}.ini"
    ini.write_text(config if isinstance(config, str) else ini_text(config))
    return run_logged(ns.node, [str(binary), "-c", str(ini), *args],
                      log_path=artifacts / f"{name}.log", timeout=timeout)
