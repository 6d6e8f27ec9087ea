"""deploy/systemd: the units, sysusers.d and tmpfiles.d files are checked by
systemd's own tools (no systemd PID 1 needed): `systemd-analyze verify` with
ExecStart pointed at the build's binaries (its warnings count as failures),
`systemd-analyze security --offline` (exposure stays low), the syscall filter
expanded with `systemd-analyze syscall-filter` (io_uring must survive it),
and systemd-sysusers / systemd-tmpfiles applied to a scratch root. Plus the
ordering decision: spcp starts after spdp but nothing stops spdp with spcp."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
UNITS = os.path.join(ROOT, "deploy", "systemd")
BUILD = os.environ.get("SP_BUILD_DIR", os.path.join(ROOT, "build", "debug"))
BINARIES = {"spdp": "dataplane/spdp", "spcp": "controlplane/spcp", "spagent": "agent/spagent"}

pytestmark = pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")


def parse(name):
    """{key: [values]} of a unit file (all sections; keys are unique enough)."""
    out = {}
    for line in open(os.path.join(UNITS, name + ".service")):
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        k, _, v = line.partition("=")
        out.setdefault(k.strip(), []).append(v.strip())
    return out


@pytest.fixture
def units():
    """The units with ExecStart on the build's binaries (verify insists on them)."""
    with tempfile.TemporaryDirectory(prefix="sp-units-") as d:
        for name, rel in BINARIES.items():
            text = open(os.path.join(UNITS, name + ".service")).read()
            text = text.replace(f"/usr/local/sbin/{name}", os.path.join(os.path.abspath(BUILD), rel))
            open(os.path.join(d, name + ".service"), "w").write(text)
        yield d


@pytest.mark.parametrize("name", BINARIES)
def test_verify_clean(units, name):
    r = subprocess.run(["systemd-analyze", "verify", os.path.join(units, name + ".service")],
                       capture_output=True, text=True, timeout=60)
    # unknown keys and bad values are only warnings to verify: fail on any line
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr


@pytest.mark.parametrize("name", BINARIES)
def test_security_exposure_low(units, name):
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                        os.path.join(units, name + ".service")],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 3.0, f"{name}: exposure {m.group(1)}"


def expand(entries):
    """The syscalls a SystemCallFilter= allow-list lets through."""
    allowed, todo, seen = set(), [], set()
    for e in entries:
        todo += e.split()
    while todo:
        e = todo.pop()
        if e in seen:
            continue
        seen.add(e)
        if not e.startswith("@"):
            allowed.add(e)
            continue
        out = subprocess.run(["systemd-analyze", "syscall-filter", e], capture_output=True,
                             text=True, timeout=60, check=True).stdout
        for line in out.splitlines()[1:]:
            line = line.strip()
            if line and not line.startswith("#"):
                todo.append(line)
    return allowed


def test_spdp_filter_allows_io_uring_and_blocks_privileged():
    allowed = expand(parse("spdp")["SystemCallFilter"])
    for sc in ("io_uring_setup", "io_uring_enter", "io_uring_register", "sendmsg",
               "recvmmsg", "epoll_wait", "eventfd2", "memfd_create", "signalfd4", "timerfd_create"):
        assert sc in allowed, sc
    for sc in ("mount", "init_module", "kexec_load", "ptrace"):
        assert sc not in allowed, sc


def test_service_shape():
    dp, cp, ag = parse("spdp"), parse("spcp"), parse("spagent")
    for u in (dp, cp, ag):
        assert u["Type"] == ["notify"] and u["WatchdogSec"] and u["User"] == ["streampoint"]
        assert u["NoNewPrivileges"] == ["yes"] and u["ProtectSystem"] == ["strict"]
    assert dp["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert dp["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert ag["CapabilityBoundingSet"] == [""]
    # the shared runtime directory outlives either unit's stop
    for u in (dp, cp):
        assert u["RuntimeDirectory"] == ["streampoint"] and u["RuntimeDirectoryPreserve"] == ["yes"]
    # spcp after spdp, but no dependency that would stop or fail spdp with it
    assert "spdp.service" in " ".join(cp["After"]) and "spdp.service" in " ".join(cp["Wants"])
    for k in ("Requires", "BindsTo", "PartOf", "Requisite"):
        assert "spdp.service" not in " ".join(cp.get(k, [])), k
        assert "spcp.service" not in " ".join(dp.get(k, [])), k


def test_sysusers_and_tmpfiles_in_scratch_root():
    with tempfile.TemporaryDirectory(prefix="sp-root-") as root:
        os.makedirs(os.path.join(root, "etc"))
        os.makedirs(os.path.join(root, "run"))
        subprocess.run(["systemd-sysusers", f"--root={root}",
                        os.path.join(UNITS, "streampoint.sysusers.conf")],
                       check=True, capture_output=True, timeout=60)
        pw = [l.split(":") for l in open(os.path.join(root, "etc", "passwd"))]
        user = [p for p in pw if p[0] == "streampoint"]
        assert user and user[0][6].strip().endswith("nologin")
        subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create",
                        os.path.join(UNITS, "streampoint.tmpfiles.conf")],
                       check=True, capture_output=True, timeout=60)
        st = os.stat(os.path.join(root, "run", "streampoint"))
        assert oct(st.st_mode & 0o777) == "0o750" and st.st_uid == int(user[0][2])
