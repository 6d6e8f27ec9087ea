"""Run-wide settings: where the repo, the binaries and the artifacts are.

Everything is computed from this file's location so the suites work from any
checkout; environment variables override:

  SP_BUILD_DIR      build tree holding dataplane/spdp, controlplane/spcp,
                    ctl/spctl (default <repo>/build/debug)
  SP_DTS_ARTIFACTS  root of the per-run artifacts (default
                    <repo>/build/dts-artifacts)
  SP_DTS_STRICT     "1": a missing prerequisite (root, ip netns, binaries)
                    fails the run instead of skipping it (for CI)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DTS_ROOT = REPO_ROOT / "dts"

# Run prefix: every namespace and temp dir this run creates starts with it, so
# two runs never collide and a crashed run's leftovers are recognisable (the
# pid is dead) and swept by the next one.
RUN_PREFIX_BASE = "spdts"


def run_prefix(pid: int | None = None) -> str:
    return f"{RUN_PREFIX_BASE}{os.getpid() if pid is None else pid}-"


@dataclass(frozen=True)
class Binaries:
    spdp: Path
    spcp: Path
    spctl: Path

    def missing(self) -> list[Path]:
        return [p for p in (self.spdp, self.spcp, self.spctl)
                if not (p.is_file() and os.access(p, os.X_OK))]


def build_dir() -> Path:
    env = os.environ.get("SP_BUILD_DIR")
    if env:
        return Path(env).resolve()
    return REPO_ROOT / "build" / "debug"


def binaries() -> Binaries:
    b = build_dir()
    return Binaries(spdp=b / "dataplane" / "spdp",
                    spcp=b / "controlplane" / "spcp",
                    spctl=b / "ctl" / "spctl")


def artifacts_root() -> Path:
    env = os.environ.get("SP_DTS_ARTIFACTS")
    return Path(env).resolve() if env else REPO_ROOT / "build" / "dts-artifacts"


def strict() -> bool:
    return os.environ.get("SP_DTS_STRICT", "") not in ("", "0", "no", "false")


def unavailable(reason: str) -> None:
    """A prerequisite is missing: skip the test (or fail it under SP_DTS_STRICT)."""
    import pytest
    if strict():
        pytest.fail(f"SP_DTS_STRICT: {reason}", pytrace=False)
    pytest.skip(reason)


def require_binaries() -> Binaries:
    b = binaries()
    missing = b.missing()
    if missing:
        unavailable(f"binaries not built: {', '.join(map(str, missing))} "
                    f"(build {build_dir()} or set SP_BUILD_DIR)")
    return b
