"""Foundation suite (issue 2): spdp and spcp start, attach, survive each
other's crashes, shut down cleanly, refuse bad configs, a second control
plane and unprivileged clients.

Everything runs in the `sp` namespace. Deadlines are generous and nothing
asserts how fast anything happens: each step waits (wait_until) for the
state `spctl status --json` should reach.

spctl exit codes (ctl/spctl.c): 0 both up and attached, 2 spcp unreachable,
3 spdp unreachable, 4 neither, 5 both up but not attached.
"""
from __future__ import annotations

import errno
import os
import socket
import struct

import pytest

from api import NOBODY, Streampoint, kill9, restart, run_binary, wait_until

pytestmark = pytest.mark.functional

ATTACH_TIMEOUT = 30  # seconds; spcp's backoff tops out at reattach_max_ms (2 s)
OK, NO_CP, NO_DP, NEITHER = 0, 2, 3, 4


def attached(sp: Streampoint):
    """Status when spcp and spdp both report each other by pid, else None."""
    st = sp.status()
    c, d = st.spcp, st.spdp
    if (st.rc == OK and c.get("attached") and c.get("pid") == sp.spcp.pid
            and c.get("dp_pid") == sp.spdp.pid and d.get("pid") == sp.spdp.pid
            and d.get("cp_attached") and d.get("cp_pid") == sp.spcp.pid):
        return st
    return None


def wait_attached(sp: Streampoint, timeout: float = ATTACH_TIMEOUT):
    return wait_until(lambda: attached(sp), timeout, what="spcp attached to spdp")


def dp_heartbeat_ms(st) -> float:
    """spdp's main-thread heartbeat as milliseconds since its start."""
    return st.spdp["uptime_s"] * 1000.0 - st.spdp["heartbeat_age_ms"]


def test_start_and_attach(topology, artifacts):
    """spdp and spcp start and attach to each other.

    Steps:
        Start spdp with 3 workers, then spcp, in the sp namespace.
    Verify:
        `spctl status --json` exits 0; spcp says attached to spdp's pid,
        spdp says spcp's pid is attached; 3 workers, their rings (2 main +
        4 per worker) and per-worker stats are reported; attach_count is 1.
    """
    with Streampoint(topology.ns("sp"), artifacts, workers=3) as sp:
        st = wait_attached(sp)
        assert st.spdp["workers"] == 3
        assert st.spdp["attach_count"] == 1 and st.spcp["attach_count"] == 1
        rings = st.spdp["rings"]
        assert len(rings) == 2 + 4 * 3
        assert {r["worker"] for r in rings} == {None, 0, 1, 2}
        assert all(r["corrupt"] == 0 and r["rejected"] == 0 for r in rings)
        assert len([w for w in st.spdp["workers_stats"] if w["worker"] != "main"]) == 3
        assert all(v == 0 for v in st.spdp["drops"].values())


def test_spcp_crash_and_reattach(topology, artifacts):
    """spdp outlives a SIGKILLed spcp; a restarted spcp attaches again.

    Steps:
        Start both; kill -9 spcp; read status; restart spcp.
    Verify:
        While spcp is down, spctl exits 2 and still reports spdp from the
        shared segment: same pid, heartbeat advancing, cp_attached false.
        After the restart spcp attaches (exit 0) and spdp's attach_count
        went from 1 to 2.
    """
    with Streampoint(topology.ns("sp"), artifacts, workers=2) as sp:
        before = wait_attached(sp)
        dp_pid = sp.spdp.pid
        kill9(sp.spcp)

        down = wait_until(lambda: (st := sp.status()).rc == NO_CP
                          and st.spdp.get("reachable") and not st.spdp.get("cp_attached")
                          and st, ATTACH_TIMEOUT, what="spctl exit 2 with spdp detached")
        assert not down.spcp["reachable"]
        assert down.spdp["pid"] == dp_pid and down.spdp["cp_pid"] is None
        hb = dp_heartbeat_ms(down)
        wait_until(lambda: (st := sp.status()).rc == NO_CP and dp_heartbeat_ms(st) > hb,
                   ATTACH_TIMEOUT, what="spdp heartbeat advancing without spcp")
        assert sp.spdp.alive() and sp.spdp.pid == dp_pid

        restart(sp.spcp)
        after = wait_attached(sp)
        assert after.spdp["pid"] == dp_pid
        assert after.spdp["attach_count"] == before.spdp["attach_count"] + 1
        assert after.spcp["attach_count"] == after.spdp["attach_count"]


def test_spdp_crash_and_reattach(topology, artifacts):
    """spcp outlives a SIGKILLed spdp and re-attaches to a new one by itself.

    Steps:
        Start both; kill -9 spdp; read status; restart spdp only.
    Verify:
        While spdp is down, spctl exits 3, spcp is reachable (same pid) and
        says not attached, and keeps answering its control socket. After
        spdp restarts, spcp attaches to the new pid without being touched.
    """
    with Streampoint(topology.ns("sp"), artifacts, workers=2) as sp:
        wait_attached(sp)
        cp_pid, old_dp = sp.spcp.pid, sp.spdp.pid
        kill9(sp.spdp)

        down = wait_until(lambda: (st := sp.status()).rc == NO_DP
                          and not st.spcp.get("attached") and st, ATTACH_TIMEOUT,
                          what="spctl exit 3 with spcp detached")
        assert down.spcp["reachable"] and down.spcp["pid"] == cp_pid
        assert down.spcp["dp_pid"] is None and not down.spdp["reachable"]
        listing = sp.spctl("call", "/")  # the DPDK-telemetry command list
        assert listing.rc == 0 and "/status" in listing.json
        assert sp.status().spcp["pid"] == cp_pid

        restart(sp.spdp)
        assert sp.spdp.pid != old_dp
        after = wait_attached(sp)
        assert after.spcp["pid"] == cp_pid and sp.spcp.alive()
        assert after.spdp["attach_count"] == 1  # a new spdp counts from zero


def test_clean_shutdown_removes_sockets(topology, artifacts):
    """SIGTERM stops both cleanly and leaves no socket file behind.

    Steps:
        Start both and wait until attached; SIGTERM spcp, then spdp.
    Verify:
        Both exit 0 (checked by the framework, as is the absence of error
        lines); the instance directory holds no socket; spctl exits 4.
    """
    with Streampoint(topology.ns("sp"), artifacts) as sp:
        wait_attached(sp)
        assert {p.name for p in sp.socket_files()} == {"spdp.sock", "spcp.sock"}
        sp.stop()
        assert sp.spcp.current.rc == 0 and sp.spdp.current.rc == 0
        assert sp.socket_files() == []
        assert sp.status().rc == NEITHER


BAD_CONFIGS = [
    # (process, overrides, key the error must name)
    ("spdp", {"spdp": {"wrokers": 2}}, "wrokers"),
    ("spdp", {"spdp": {"workers": 100000}}, "workers"),
    ("spdp", {"rings": {"cmd_bytes": "3000"}}, "cmd_bytes"),
    ("spdp", {"rings": {"frobnicate": "1"}}, "frobnicate"),
    ("spcp", {"spcp": {"heartbeat_msec": 1000}}, "heartbeat_msec"),
    ("spcp", {"spcp": {"heartbeat_ms": 5}}, "heartbeat_ms"),
    ("spcp", {"spcp": {"reattach_max_ms": 0}}, "reattach_max_ms"),
    ("spcp", {"telemetry": {"dpdk_link": "maybe"}}, "dpdk_link"),
]


@pytest.mark.parametrize("which,overrides,key", BAD_CONFIGS,
                         ids=[f"{w}-{k}" for w, _, k in BAD_CONFIGS])
def test_bad_config_is_refused(topology, artifacts, which, overrides, key):
    """A config with an unknown key or an out-of-range value is refused.

    Steps:
        Write an otherwise valid config for the process with one bad key
        (misspelt, unknown, or out of range) and start the process with it.
    Verify:
        It exits non-zero on its own, with an error naming the key, and
        leaves no socket behind.
    """
    sp = Streampoint(topology.ns("sp"), artifacts, start=())
    with sp:
        r = run_binary(topology.ns("sp"), artifacts, which, sp.config_with(which, overrides),
                       name=f"{which}-bad")
        assert r.rc != 0, f"{which} accepted a bad {key}: {r.stdout}{r.stderr}"
        assert key in r.stderr + r.stdout, f"error does not name {key}: {r.stderr}"
        assert sp.socket_files() == []


def test_bad_override_is_refused(topology, artifacts):
    """A bad command-line override is refused like a bad file.

    Steps:
        Start spdp with a valid file and `-o spdp.workers=0`.
    Verify:
        It exits non-zero naming `workers`.
    """
    sp = Streampoint(topology.ns("sp"), artifacts, start=())
    with sp:
        r = run_binary(topology.ns("sp"), artifacts, "spdp", sp.spdp_config,
                       args=["-o", "spdp.workers=0"], name="spdp-bad-override")
        assert r.rc != 0 and "workers" in r.stderr + r.stdout


def test_second_spcp_is_refused(topology, artifacts):
    """A second spcp for the same instance is refused; the first stays attached.

    spcp binds its control socket before attaching; ctlsock refuses to take
    over a socket a live process answers on, so the second spcp exits
    non-zero at start-up naming the socket, without ever reaching spdp
    (which would refuse it too: one control plane at a time).

    Steps:
        Start spdp and spcp, wait until attached; start another spcp with
        the same config.
    Verify:
        The second exits non-zero, its error names spcp.sock; the first spcp
        is still attached to the same spdp, attach_count still 1, and still
        serves status.
    """
    with Streampoint(topology.ns("sp"), artifacts) as sp:
        before = wait_attached(sp)
        second = sp.new_spcp("spcp2", allowed_errors=[r"control socket .*spcp\.sock"])
        second.start()
        rc = second.wait_exit(20)
        assert rc != 0
        assert "spcp.sock" in second.log_text()
        after = wait_attached(sp)
        assert after.spcp["pid"] == before.spcp["pid"]
        assert after.spdp["attach_count"] == 1 and after.spdp["cp_pid"] == sp.spcp.pid


# common/attach.h: struct attach_req / struct attach_rep, little-endian.
ATTACH_REQ = struct.Struct("<IHHiI")
ATTACH_REP = struct.Struct("<IHHiIQiI")
ATTACH_MAGIC, ATTACH_PROTO, ATTACH_CONTROL = 0x54415053, 1, 1


def raw_control_attach(sock_path) -> tuple[int, int]:
    """Ask spdp for control the way spcp does; returns (status, fds received)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(10)
        s.connect(str(sock_path))
        s.send(ATTACH_REQ.pack(ATTACH_MAGIC, ATTACH_PROTO, ATTACH_CONTROL, os.getpid(), 0))
        data, anc, _, _ = s.recvmsg(ATTACH_REP.size, socket.CMSG_SPACE(140 * 4))
        fds = []
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(struct.unpack(f"{len(payload) // 4}i", payload[:len(payload) // 4 * 4]))
        for fd in fds:
            os.close(fd)
        magic, _proto, _mode, status, *_ = ATTACH_REP.unpack(data)
        assert magic == ATTACH_MAGIC
        return status, len(fds)


def test_spdp_refuses_second_control_plane(topology, artifacts):
    """spdp hands its rings to one control plane at a time.

    Steps:
        Start both and wait until attached; send spdp a raw control attach
        request (what spcp sends) from this process.
    Verify:
        The reply is -EBUSY with no descriptors; spcp stays attached and
        attach_count stays 1.
    """
    with Streampoint(topology.ns("sp"), artifacts) as sp:
        wait_attached(sp)
        status, nfds = raw_control_attach(sp.instance_dir / "spdp.sock")
        assert status == -errno.EBUSY and nfds == 0
        after = wait_attached(sp)
        assert after.spdp["attach_count"] == 1 and after.spdp["cp_pid"] == sp.spcp.pid


def test_unprivileged_client_refused(topology, artifacts):
    """spctl run as nobody is refused by both processes.

    Steps:
        Start both (ctl_group empty: root only); run spctl status as uid/gid
        65534 with no supplementary groups; then open up the instance
        directory and both sockets (mode 0777) and run it again.
    Verify:
        Both times spctl exits 4 (neither reachable) and the errors say
        permission denied: the filesystem stops it first, and the
        processes' own peer-credential check stops it when the filesystem
        does not. Root's spctl still sees both.
    """
    with Streampoint(topology.ns("sp"), artifacts) as sp:
        wait_attached(sp)
        r = sp.status(user=NOBODY)
        assert r.rc == NEITHER, str(r)
        assert not r.spcp["reachable"] and not r.spdp["reachable"]
        assert "denied" in r.spcp["error"].lower() and "denied" in r.spdp["error"].lower()

        os.chmod(sp.instance_dir, 0o777)
        for s in sp.socket_files():
            os.chmod(s, 0o777)
        r = sp.status(user=NOBODY)
        assert r.rc == NEITHER, str(r)
        assert not r.spcp["reachable"] and not r.spdp["reachable"]
        assert attached(sp)


def test_ctl_group_member_allowed(topology, artifacts):
    """A member of ctl_group may use spctl (the other side of test 7).

    Steps:
        Start both with ctl_group=nogroup; run spctl status as uid 65534
        whose primary group is nogroup.
    Verify:
        spctl exits 0 and sees both processes attached.
    """
    group = {"ctl_group": "nogroup"}
    with Streampoint(topology.ns("sp"), artifacts, spdp={"spdp": group},
                     spcp={"spcp": group}) as sp:
        wait_attached(sp)
        r = wait_until(lambda: (st := sp.status(user=NOBODY)).rc == OK and st, ATTACH_TIMEOUT,
                       what="spctl as a ctl_group member")
        assert r.spcp["pid"] == sp.spcp.pid and r.spdp["pid"] == sp.spdp.pid
