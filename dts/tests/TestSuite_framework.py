"""Framework self-test: the topology and the process checks every suite relies on.

It needs no streampoint binary, so it also tells a broken host (no netns,
no veth) apart from a broken build. The stale-sweep case is the one place a
suite reaches under api into framework: it tests the framework itself.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from api import ProcessFailure, WaitTimeout, process, wait_until

pytestmark = pytest.mark.functional

PY = sys.executable

UDP_ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7777))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
"""

UDP_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for _ in range(20):
    s.sendto(b"ping", (sys.argv[1], 7777))
    try:
        print(s.recvfrom(2048)[0].decode()); break
    except socket.timeout:
        pass
"""


def test_topology_links(topology, artifacts):
    """Every veth link of topology.yaml carries traffic.

    Steps:
        Start a UDP echo server in `view`; from `sp`, send datagrams to
        view's address on the sp-view link.
    Verify:
        The echo comes back; the namespaces carry the run prefix.
    """
    sp, view = topology.ns("sp"), topology.ns("view")
    assert sp.netns.startswith(topology.prefix) and topology.prefix.startswith("spdts")
    target = view.addr(toward="sp")
    with process(view, "udp-echo", [PY, "-c", UDP_ECHO], artifacts):
        cp = wait_until(lambda: sp.node.run([PY, "-c", UDP_CLIENT, target], check=False)
                        .stdout.strip() == "ping", timeout=20, what="echo over sp-view")
        assert cp


def _fake(ns, artifacts, name, script, ready_text=None, **kw):
    """sh -c script; ready once ready_text is in its log."""
    if ready_text is not None:
        log = artifacts / f"{name}.log"
        kw["ready"] = lambda: any(l.startswith(ready_text) for l in log.read_text().splitlines())
    return process(ns, name, ["sh", "-c", script], artifacts, **kw)


def test_error_line_fails(topology, artifacts):
    """An err-level log line fails the test unless the suite allowed it.

    Steps:
        Run a fake program that logs `<3>...: err: boom`, once without and
        once with an allowed regex.
    Verify:
        The first stop raises ProcessFailure naming the line; the second passes.
    """
    ns = topology.ns("sp")
    script = "echo '<3>fake[1]: err: boom' >&2; exec sleep 60"
    with pytest.raises(ProcessFailure, match="unexpected error line.*boom"):
        with _fake(ns, artifacts, "fake-err", script, "<3>"):
            pass
    with _fake(ns, artifacts, "fake-err-allowed", script, "<3>", allowed_errors=[r"err: boom$"]):
        pass


def test_sanitizer_report_fails(topology, artifacts):
    """A sanitizer report fails the test even when error lines are allowed.

    Steps:
        Run a fake program that prints an ASan header, allowing every line.
    Verify:
        Stopping it raises ProcessFailure mentioning the sanitizer report.
    """
    script = "echo '==1==ERROR: AddressSanitizer: heap-use-after-free' >&2; exec sleep 60"
    with pytest.raises(ProcessFailure, match="sanitizer report"):
        with _fake(topology.ns("sp"), artifacts, "fake-asan", script, "==1==",
                   allowed_errors=[".*"]):
            pass


def test_unexpected_exit_and_stubborn_stop(topology, artifacts):
    """A process that dies on its own, or ignores SIGTERM, fails the test.

    Steps:
        Run a program that exits 3 by itself; run one that ignores SIGTERM.
    Verify:
        The first is reported as an unexpected exit; the second as SIGKILLed
        after ignoring SIGTERM; a wait_exit()ed exit is not reported.
    """
    ns = topology.ns("sp")
    with pytest.raises(ProcessFailure, match="exited unexpectedly: exit 3"):
        with _fake(ns, artifacts, "fake-exit", "sleep 0.2; exit 3") as p:
            wait_until(lambda: not p.alive(), 10)
    stubborn = [PY, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                "print('up', flush=True); time.sleep(60)"]
    with pytest.raises(ProcessFailure, match="ignored SIGTERM"):
        with process(ns, "fake-stubborn", stubborn, artifacts, stop_timeout=1,
                     ready=lambda: "up" in open(artifacts / "fake-stubborn.log").read().split()):
            pass
    with _fake(ns, artifacts, "fake-expected-exit", "exit 1") as p:
        assert p.wait_exit(10) == 1


def test_wait_until_reports_last_value():
    """wait_until returns the first truthy value and reports the last one on timeout.

    Steps:
        Poll a counter until it reaches 3; poll a condition that stays
        false; poll one that keeps raising.
    Verify:
        The first returns 3; the others raise WaitTimeout naming the last
        value or exception.
    """
    n = iter(range(10))
    assert wait_until(lambda: (v := next(n)) >= 3 and v, timeout=5, interval=0.01) == 3
    with pytest.raises(WaitTimeout, match="last: 0"):
        wait_until(lambda: 0, timeout=0.3, interval=0.05)
    with pytest.raises(WaitTimeout, match=r"last: RuntimeError\('nope'\)"):
        wait_until(_nope, timeout=0.3, interval=0.05)


def _nope():
    raise RuntimeError("nope")


def test_stale_sweep(topology):
    """Namespaces of dead runs are swept; those of live runs are kept.

    Steps:
        Create a namespace named with a dead pid's prefix with a process in
        it; one with our own prefix; one with another dead pid's prefix
        whose run lock is held (a run in another pid namespace); sweep.
    Verify:
        The dead run's namespace and process are gone; the other two remain.
    """
    from framework.topology import hold_run_lock, list_netns, release_run_lock, sweep_stale

    dead_pids = []
    for _ in range(2):
        p = subprocess.Popen(["true"])
        p.wait()
        dead_pids.append(p.pid)
    stale = f"spdts{dead_pids[0]}-stale"
    locked_prefix = f"spdts{dead_pids[1]}-"
    locked = f"{locked_prefix}locked"
    mine = f"{topology.prefix}keep"
    node = topology.root
    for n in (stale, mine, locked):
        node.run(["ip", "netns", "add", n])
    lock = hold_run_lock(locked_prefix)
    try:
        orphan = subprocess.Popen(["ip", "netns", "exec", stale, "sleep", "60"])
        wait_until(lambda: node.run(["ip", "netns", "pids", stale]).stdout.strip(), 10)
        removed = sweep_stale(node)
        assert stale in removed
        assert orphan.wait(10) is not None
        names = list_netns(node)
        assert stale not in names and mine in names
        assert lock is None or locked in names
    finally:
        release_run_lock(locked_prefix, lock)
        for n in (stale, mine, locked):
            node.run(["ip", "netns", "del", n], check=False)
        assert os.path.exists(f"/run/netns/{topology.ns('sp').netns}")
