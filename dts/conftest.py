"""pytest glue for dts: prerequisites, the topology, artifacts, leak checks.

Session: check we can run at all (root, `ip netns`) and skip every test
with the reason when not (SP_DTS_STRICT=1 fails instead; tests that need
the binaries skip the same way when they are not built);
sweep namespaces of dead runs; build the topology; always tear it down and
fail the run if anything is left behind.
Per test: an artifacts dir (logs, generated configs), and a check that the
test left no process running in any namespace.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from framework import settings  # noqa: E402
from framework.node import LocalNode, have_command  # noqa: E402
from framework.topology import Topology, TopologySpec, sweep_stale  # noqa: E402

_KEEP_RUNS = 10


def _prerequisite_problem() -> str | None:
    if os.geteuid() != 0:
        return "dts needs root (network namespaces): run with sudo"
    if not have_command("ip"):
        return "iproute2 `ip` not found"
    root = LocalNode()
    probe = f"{settings.run_prefix()}probe"
    cp = root.run(["ip", "netns", "add", probe], check=False)
    if cp.returncode != 0:
        return f"`ip netns add` does not work here: {cp.stderr.strip()}"
    root.run(["ip", "netns", "del", probe], check=False)
    return None


@pytest.fixture(scope="session")
def dts_host() -> None:
    """Skip (or, under SP_DTS_STRICT, fail) when this host cannot run dts."""
    reason = _prerequisite_problem()
    if reason:
        settings.unavailable(reason)


@pytest.fixture(scope="session")
def run_artifacts(dts_host) -> Path:
    root = settings.artifacts_root()
    root.mkdir(parents=True, exist_ok=True)
    runs = sorted((d for d in root.glob("run-*") if d.is_dir()), key=lambda d: d.stat().st_mtime)
    for old in runs[:-_KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)
    d = root / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def topology(dts_host, run_artifacts: Path):
    root = LocalNode()
    swept = sweep_stale(root)
    if swept:
        (run_artifacts / "swept.txt").write_text("\n".join(swept) + "\n")
    topo = Topology(TopologySpec.load(settings.DTS_ROOT / "topology.yaml"),
                    settings.run_prefix(), root)
    try:
        topo.build()
        yield topo
    finally:
        errors = topo.teardown()
        if errors:
            pytest.fail("topology teardown: " + "; ".join(errors), pytrace=False)


@pytest.fixture
def artifacts(request, run_artifacts: Path) -> Path:
    """Per-test directory for logs and generated configs (kept after the run)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("/")[-1])
    d = run_artifacts / name
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(autouse=True)
def _no_leftover_processes(request):
    """Fail a test that leaves anything running in the topology's namespaces."""
    yield
    if "topology" not in request.fixturenames:
        return
    topo = request.getfixturevalue("topology")
    left = topo.leftover_pids()
    if left:
        topo.kill_all()
        pytest.fail(f"processes left running after the test: {left}", pytrace=False)


def pytest_report_header(config):
    b = settings.binaries()
    return [f"dts: binaries from {settings.build_dir()} "
            f"({'missing' if b.missing() else 'present'}), "
            f"artifacts under {settings.artifacts_root()}, run prefix {settings.run_prefix()}"]
