"""systemd's notify protocol from the real daemons (issue 8, deploy): no
systemd here (not PID 1 in the container), so the test listens on the
$NOTIFY_SOCKET datagram socket itself, the way systemd would, with
$WATCHDOG_USEC set. Each daemon must send READY=1 once started, WATCHDOG=1
pings while it runs (several, at about half the interval) and STOPPING=1 on
SIGTERM. spcp must be ready without an spdp to attach to. A stuck worker:
one spdp worker thread is stopped alone with ptrace (PTRACE_SEIZE +
PTRACE_INTERRUPT stop a thread, not the process; needs CAP_SYS_PTRACE):
between spdp's "STATUS=worker 1 stalled" and "STATUS=forwarding" (after the
thread is let go) no WATCHDOG=1 may arrive.
Ports 37000-37099 (spdp's media range). No timed assertions: each wait only
bounds how long a missing message is waited for, and the stall is judged by
the order of the messages."""
import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest

BUILD = os.environ.get("SP_BUILD_DIR",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "debug"))
WATCHDOG_USEC = 400000
PINGS = 4


def expect(sock, prefix, proc, skip=()):
    """The next datagram starting with `prefix` (others in `skip` allowed)."""
    while True:
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            raise AssertionError(f"no {prefix!r} (rc {proc.poll()})")
        if msg.startswith(prefix):
            return msg
        assert msg.startswith(skip), f"unexpected {msg!r} while waiting for {prefix!r}"


def listen(tmp):
    path = os.path.join(tmp, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC=str(WATCHDOG_USEC))
    env.pop("WATCHDOG_PID", None)
    return sock, env


def run(cmd, tmp):
    sock, env = listen(tmp)
    log = open(os.path.join(tmp, "log"), "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    try:
        ready = expect(sock, "READY=1", proc)
        assert f"MAINPID={proc.pid}" in ready.split("\n")
        for _ in range(PINGS):
            expect(sock, "WATCHDOG=1", proc, skip=("STATUS=",))
        proc.send_signal(signal.SIGTERM)
        expect(sock, "STOPPING=1", proc, skip=("STATUS=", "WATCHDOG=1"))
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
    text = open(os.path.join(tmp, "log"), errors="replace").read()
    assert "Sanitizer" not in text and "runtime error:" not in text, text
    return ready


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="sp-notify-") as d:
        yield d


def test_spdp_ready_watchdog_stopping(tmp):
    ready = run([os.path.join(BUILD, "dataplane/spdp"), "-o", f"spdp.runtime_dir={tmp}",
                 "-o", "spdp.workers=2", "-o", "media.address=127.0.0.1",
                 "-o", "media.port_min=37000", "-o", "media.port_max=37099"], tmp)
    assert "STATUS=forwarding" in ready


PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH, WALL = 0x4206, 0x4207, 17, 0x40000000


def test_spdp_stuck_worker_stops_the_watchdog(tmp):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    sock, env = listen(tmp)
    log = open(os.path.join(tmp, "log"), "wb")
    proc = subprocess.Popen([os.path.join(BUILD, "dataplane/spdp"), "-o", f"spdp.runtime_dir={tmp}",
                             "-o", "spdp.workers=2", "-o", "media.address=127.0.0.1",
                             "-o", "media.port_min=37000", "-o", "media.port_max=37099"],
                            env=env, stdout=log, stderr=log)
    tid = None
    try:
        expect(sock, "READY=1", proc)
        expect(sock, "WATCHDOG=1", proc)
        task = f"/proc/{proc.pid}/task"
        tids = [int(t) for t in os.listdir(task)
                if open(f"{task}/{t}/comm").read().strip() == "spdp-w1"]
        assert len(tids) == 1, "worker thread spdp-w1 not found"
        if libc.ptrace(PTRACE_SEIZE, tids[0], None, None) != 0:
            pytest.skip(f"ptrace: {os.strerror(ctypes.get_errno())}")
        tid = tids[0]
        assert libc.ptrace(PTRACE_INTERRUPT, tid, None, None) == 0
        os.waitpid(tid, WALL)  # the thread is in its ptrace stop
        expect(sock, "STATUS=worker 1 stalled", proc, skip=("WATCHDOG=1",))
        # hold the worker for several ping intervals, then let it go: any
        # WATCHDOG=1 in between would arrive before STATUS=forwarding
        time.sleep(3 * WATCHDOG_USEC / 1e6)
        assert libc.ptrace(PTRACE_DETACH, tid, None, None) == 0
        tid = None
        msg = sock.recv(4096).decode()
        assert msg == "STATUS=forwarding", f"{msg!r} while worker 1 was stopped"
        expect(sock, "WATCHDOG=1", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if tid is not None:
            libc.ptrace(PTRACE_DETACH, tid, None, None)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
    text = open(os.path.join(tmp, "log"), errors="replace").read()
    assert "worker 1 has not turned its loop" in text, text


def test_spcp_ready_without_spdp(tmp):
    ready = run([os.path.join(BUILD, "controlplane/spcp"), "-o", f"spcp.runtime_dir={tmp}"], tmp)
    assert "STATUS=not attached to spdp" in ready


def test_spagent_ready_while_endpoint_unreachable(tmp):
    key = os.path.join(tmp, "device.key")
    with open(key, "w") as f:
        f.write("11" * 32 + "\n")
    ca = "/etc/ssl/certs/ca-certificates.crt"
    if not os.path.exists(ca):
        pytest.skip("no CA bundle to point spagent at")
    # nothing listens on 37098: spagent backs off and retries, still alive
    run([os.path.join(BUILD, "agent/spagent"), "-o", "agent.device_id=cam-notify",
         "-o", f"agent.key_file={key}", "-o", f"agent.ca_file={ca}",
         "-o", "agent.endpoint=127.0.0.1:37098"], tmp)


def test_bad_notify_socket_is_not_fatal(tmp):
    env = dict(os.environ, NOTIFY_SOCKET="vsock:2:1", WATCHDOG_USEC="x")
    proc = subprocess.Popen([os.path.join(BUILD, "controlplane/spcp"), "-o",
                             f"spcp.runtime_dir={tmp}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    warned = False
    try:
        # the warning comes before the loop; then spcp runs as usual
        for line in proc.stdout:
            if b"control socket" in line:
                break
            if b"NOTIFY_SOCKET" in line:
                assert line.startswith(b"<4>"), line
                warned = True
        assert warned
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
