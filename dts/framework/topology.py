"""Topology: network namespaces and veth links from dts/topology.yaml.

build() creates every namespace as <run prefix><name> (prefix "spdts<pid>-"),
brings loopback up, creates each veth pair with both ends directly inside
their namespaces and assigns the addresses. teardown() kills whatever still
runs in the namespaces and deletes them (the veths go with them). It is
always called, also when build() failed half-way.

sweep_stale() removes namespaces (and /tmp runtime dirs) of earlier runs
whose pid is dead, so a crashed or SIGKILLed run never leaks into the next.
A run also holds an flock on /run/lock/<prefix>run.lock for its lifetime: a
run in another pid namespace that shares /run/netns looks dead by pid, but
its lock is still held, so it is left alone.
"""
from __future__ import annotations

import fcntl
import ipaddress
import os
import re
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .node import LocalNode
from .settings import RUN_PREFIX_BASE

_STALE_RE = re.compile(rf"^{RUN_PREFIX_BASE}(\d+)-")


@dataclass(frozen=True)
class NamespaceSpec:
    name: str
    role: str = ""


@dataclass(frozen=True)
class LinkEnd:
    ns: str
    ifname: str
    addrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class LinkSpec:
    a: LinkEnd
    b: LinkEnd


@dataclass(frozen=True)
class TopologySpec:
    namespaces: tuple[NamespaceSpec, ...]
    links: tuple[LinkSpec, ...] = ()

    @classmethod
    def load(cls, path: Path) -> "TopologySpec":
        doc = yaml.safe_load(Path(path).read_text()) or {}
        nss = tuple(NamespaceSpec(**n) for n in doc.get("namespaces", []))
        names = {n.name for n in nss}
        if len(names) != len(nss):
            raise ValueError(f"{path}: duplicate namespace name")

        def end(d: dict) -> LinkEnd:
            e = LinkEnd(ns=d["ns"], ifname=d["ifname"], addrs=tuple(d.get("addrs", ())))
            if e.ns not in names:
                raise ValueError(f"{path}: link end in unknown namespace {e.ns!r}")
            if len(e.ifname) > 15:
                raise ValueError(f"{path}: interface name {e.ifname!r} over 15 characters")
            for a in e.addrs:
                ipaddress.ip_interface(a)  # raises on a typo
            return e

        links = tuple(LinkSpec(a=end(l["a"]), b=end(l["b"])) for l in doc.get("links", []))
        return cls(namespaces=nss, links=links)


@dataclass
class Namespace:
    """One built namespace: its role name, its real name and a session in it."""
    name: str
    netns: str
    prefix: str
    node: LocalNode = field(repr=False)
    addrs: dict[str, list[str]] = field(default_factory=dict)  # peer ns -> our addrs

    def addr(self, toward: str, version: int = 4) -> str:
        """Our address on the link toward namespace `toward` (no prefix length)."""
        for a in self.addrs.get(toward, []):
            ip = ipaddress.ip_interface(a)
            if ip.version == version:
                return str(ip.ip)
        raise KeyError(f"{self.name} has no IPv{version} address toward {toward}")


def _kill_netns_pids(root: LocalNode, netns: str, grace: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL, everything running in netns. Returns the pids found."""
    cp = root.run(["ip", "netns", "pids", netns], check=False)
    pids = [int(p) for p in cp.stdout.split() if p.isdigit()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for p in pids:
            try:
                os.kill(p, sig)
                alive.append(p)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            alive = [p for p in alive if _pid_alive(p)]
            time.sleep(0.05)
        if not alive:
            break
    return pids


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes (its parent reaps it).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


LOCK_DIR = Path("/run/lock")


def _lock_path(prefix: str) -> Path:
    return LOCK_DIR / f"{prefix}run.lock"


def _lock_held(prefix: str) -> bool:
    try:
        fd = os.open(_lock_path(prefix), os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def hold_run_lock(prefix: str) -> int | None:
    """Take this run's lock (kept until the process exits). None if /run/lock is unusable."""
    try:
        fd = os.open(_lock_path(prefix), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except OSError:
        return None


def release_run_lock(prefix: str, fd: int | None) -> None:
    if fd is not None:
        _lock_path(prefix).unlink(missing_ok=True)
        os.close(fd)


def _run_is_alive(pid: int) -> bool:
    """Is the run that owns prefix spdts<pid>- still going? Its lock says so;
    otherwise its pid, where a live pid that is not a python/pytest process
    is a reused pid: the run is dead."""
    if pid == os.getpid() or _lock_held(f"{RUN_PREFIX_BASE}{pid}-"):
        return True
    if not _pid_alive(pid):
        return False
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"python" in cmd or b"pytest" in cmd


def list_netns(root: LocalNode) -> list[str]:
    cp = root.run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in cp.stdout.splitlines() if line.strip()]


def sweep_stale(root: LocalNode) -> list[str]:
    """Delete namespaces and temp dirs left by dead runs. Returns what it removed."""
    removed = []
    for netns in list_netns(root):
        m = _STALE_RE.match(netns)
        if m and not _run_is_alive(int(m.group(1))):
            _kill_netns_pids(root, netns)
            root.run(["ip", "netns", "del", netns], check=False)
            removed.append(netns)
    tmp = Path(tempfile.gettempdir())
    for d in tmp.glob(f"{RUN_PREFIX_BASE}*"):
        m = _STALE_RE.match(d.name)
        if m and d.is_dir() and not _run_is_alive(int(m.group(1))):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
    for f in LOCK_DIR.glob(f"{RUN_PREFIX_BASE}*-run.lock"):
        m = _STALE_RE.match(f.name)
        if m and not _run_is_alive(int(m.group(1))):
            f.unlink(missing_ok=True)
    return removed


class Topology:
    def __init__(self, spec: TopologySpec, prefix: str, root: LocalNode | None = None):
        self.spec = spec
        self.prefix = prefix
        self.root = root or LocalNode()
        self.namespaces: dict[str, Namespace] = {}
        self._created: list[str] = []
        self._lock_fd: int | None = None

    def netns_name(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def ns(self, name: str) -> Namespace:
        return self.namespaces[name]

    def build(self) -> None:
        r = self.root
        self._lock_fd = hold_run_lock(self.prefix)
        for n in self.spec.namespaces:
            full = self.netns_name(n.name)
            r.run(["ip", "netns", "add", full])
            self._created.append(full)
            r.run(["ip", "-n", full, "link", "set", "lo", "up"])
            self.namespaces[n.name] = Namespace(n.name, full, self.prefix, r.in_netns(full))
        for l in self.spec.links:
            a, b = l.a, l.b
            r.run(["ip", "link", "add", a.ifname, "netns", self.netns_name(a.ns), "type", "veth",
                   "peer", "name", b.ifname, "netns", self.netns_name(b.ns)])
            for end, peer in ((a, b), (b, a)):
                full = self.netns_name(end.ns)
                for addr in end.addrs:
                    extra = ["nodad"] if ipaddress.ip_interface(addr).version == 6 else []
                    r.run(["ip", "-n", full, "addr", "add", addr, "dev", end.ifname] + extra)
                r.run(["ip", "-n", full, "link", "set", end.ifname, "up"])
                self.namespaces[end.ns].addrs.setdefault(peer.ns, []).extend(end.addrs)

    def leftover_pids(self) -> dict[str, list[int]]:
        """Processes still running in our namespaces (should be none between tests)."""
        out = {}
        for n in self.namespaces.values():
            cp = self.root.run(["ip", "netns", "pids", n.netns], check=False)
            pids = [int(p) for p in cp.stdout.split() if p.isdigit() and _pid_alive(int(p))]
            if pids:
                out[n.name] = pids
        return out

    def kill_all(self) -> None:
        for n in self.namespaces.values():
            _kill_netns_pids(self.root, n.netns)

    def teardown(self) -> list[str]:
        """Remove everything build() created. Returns errors (empty when clean)."""
        errors = []
        for full in reversed(self._created):
            _kill_netns_pids(self.root, full)
            cp = self.root.run(["ip", "netns", "del", full], check=False)
            if cp.returncode != 0:
                errors.append(f"ip netns del {full}: {cp.stderr.strip()}")
        self._created.clear()
        self.namespaces.clear()
        left = [n for n in list_netns(self.root) if n.startswith(self.prefix)]
        if left:
            errors.append(f"namespaces left behind: {left}")
        release_run_lock(self.prefix, self._lock_fd)
        self._lock_fd = None
        return errors
