"""Agent tunnels through real spdp + spcp (docs/tunnel.md): an agent written
here (tun_agent.py) connects over TLS with a token signed with the key in
spdp's token_key_file, `spctl tunnel open` gives a local port, and HTTP
through it reaches a real http.server on the agent's side.

Ports: 43000-43099 (+ SP_TEST_PORT_OFFSET)."""
import hashlib
import os
import socket
import ssl
import sys
import threading
import time
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from sp_procs import Streampoint  # noqa: E402
import tun_agent  # noqa: E402
from test_turn import make_cert  # noqa: E402

OFF = int(os.environ.get("SP_TEST_PORT_OFFSET", "0"))
TUN = 43001 + OFF
HTTP = 43002 + OFF
SINK = 43003 + OFF  # reads <u64 length><bytes>, answers their sha256
SP_ID = "sp-test"
KID = "k1"
KEY = bytes(range(32))
BIG = 20 << 20


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tunnel"))
    cert, key = make_cert(d)
    keyfile = os.path.join(d, "token.keys")
    with open(keyfile, "w") as f:
        f.write(f"# test keys\n{KID} {KEY.hex()} current\n")
    www = os.path.join(d, "www")
    os.mkdir(www)
    data = os.urandom(BIG)
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(data)
    httpd = ThreadingHTTPServer(("127.0.0.1", HTTP), partial(Quiet, directory=www))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    sink = socket.create_server(("127.0.0.1", SINK))
    threading.Thread(target=_hash_service, args=(sink,), daemon=True).start()
    opts = ["-o", f"tunnel.listen=127.0.0.1:{TUN}", "-o", f"tunnel.tls_cert={cert}",
            "-o", f"tunnel.tls_key={key}", "-o", f"tunnel.token_key_file={keyfile}",
            "-o", f"tunnel.streampoint_id={SP_ID}", "-o", "tunnel.handshake_ms=1500",
            "-o", "tunnel.heartbeat_ms=2000"]
    with Streampoint(workers=2, port_base=43100 + OFF, spdp_opts=opts) as sp:
        yield sp, cert, hashlib.sha256(data).hexdigest()
    httpd.shutdown()
    sink.close()


def _recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(min(1 << 16, n - len(buf)))
        if not d:
            raise EOFError
        buf += d
    return bytes(buf)


def _hash_service(srv):
    while True:
        try:
            c, _ = srv.accept()
        except OSError:
            return
        with c:
            n = int.from_bytes(_recv_exact(c, 8), "big")
            h = hashlib.sha256()
            while n:
                d = c.recv(min(1 << 16, n))
                if not d:
                    break
                h.update(d)
                n -= len(d)
            c.sendall(h.hexdigest().encode())


def counters(sp):
    c = {}
    st = sp.spctl("status")["spdp"]
    for w in st["workers_stats"]:
        for k, v in w["counters"].items():
            c[k] = c.get(k, 0) + v
    return c, st["drops"]


@pytest.fixture
def agent(env):
    sp, cert, _ = env
    a = tun_agent.Agent(TUN, tun_agent.token(KEY, KID, "cam-1", SP_ID),
                        [f"127.0.0.1:{HTTP}", f"127.0.0.1:{SINK}"], cafile=cert)
    a.start()
    sp.wait(lambda: any(t["device"] == "cam-1" for t in sp.spctl("tunnels")["tunnels"]), 20,
            "tunnel up at spcp")
    yield a
    a.stop()
    sp.wait(lambda: not any(t["device"] == "cam-1" for t in sp.spctl("tunnels")["tunnels"]), 20,
            "tunnel down at spcp")


def open_forward(sp, device="cam-1", port=HTTP):
    fw = sp.spctl("tunnel", "open", device, str(port), "--idle-ms", "30000")
    assert fw["state"] == "listening", fw
    return fw["port"]


def sha_of_url(port, path="/big.bin"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as r:
        return hashlib.sha256(r.read()).hexdigest()


def test_20mib_integrity(env, agent):
    """Steps: tunnel up, spctl tunnel open, GET 20 MiB through the local
    port; the sha256 equals the file's, bytes counted both ways."""
    sp, _, digest = env
    port = open_forward(sp)
    assert sha_of_url(port) == digest
    c, _ = counters(sp)
    assert c["tun_up"] >= 1 and c["tun_streams"] >= 1
    assert c["tun_bytes_from_agent"] >= BIG


def test_upload_integrity_with_pauses(env, agent):
    """Steps: 20 MiB from the local client to a hashing service behind the
    agent (length-prefixed: no half-close needed); the service's sha256
    equals ours; spdp paused the local connection on the way (agent
    connection room and window), and every byte arrived."""
    sp, _, _ = env
    port = open_forward(sp, port=SINK)
    before, _ = counters(sp)
    data = os.urandom(BIG)
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(len(data).to_bytes(8, "big") + data)
    got = _recv_exact(s, 64).decode()
    s.close()
    assert got == hashlib.sha256(data).hexdigest()
    after, _ = counters(sp)
    assert after["tun_bytes_to_agent"] - before["tun_bytes_to_agent"] >= BIG
    assert after["tun_paused"] > before["tun_paused"]


def _request(port, path="/big.bin"):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    return s


def _body_sha(s):
    buf = b""
    while True:
        d = s.recv(1 << 16)
        if not d:
            break
        buf += d
    s.close()
    return hashlib.sha256(buf.split(b"\r\n\r\n", 1)[1]).hexdigest()


def test_stalled_reader_does_not_block_another(env, agent):
    """Steps: stream A requests 20 MiB and does not read; stream B fetches
    20 MiB through the same tunnel and completes intact; spdp held A's
    data (tun_held); then A reads everything, intact too."""
    sp, _, digest = env
    port = open_forward(sp)
    before, _ = counters(sp)
    a = _request(port)
    sp.wait(lambda: counters(sp)[0]["tun_held"] > before["tun_held"], 30, "stream A held")
    assert sha_of_url(port) == digest
    assert _body_sha(a) == digest


def test_open_to_dead_target_closes_local(env, agent):
    """Steps: forward to a port nothing listens on; the agent answers
    OPEN_FAIL(connect_failed); the local connection is closed, counted."""
    sp, _, _ = env
    port = open_forward(sp, port=HTTP + 50)  # not on the allow-list: refused
    _, before = counters(sp)
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    assert s.recv(10) == b""
    s.close()
    sp.wait(lambda: counters(sp)[1]["tun_open_failed"] > before["tun_open_failed"], 20,
            "open failure counted")


@pytest.mark.parametrize("tok,drop", [
    (None, "tun_no_token"),
    (tun_agent.token(b"\x00" * 32, KID, "cam-1", SP_ID), "tun_token_bad"),
    (tun_agent.token(KEY, "nokid", "cam-1", SP_ID), "tun_token_bad"),
    (tun_agent.token(KEY, KID, "cam-1", SP_ID, iat=int(time.time()) - 7200, ttl=60),
     "tun_token_expired"),
    (tun_agent.token(KEY, KID, "cam-1", "other-sp"), "tun_token_wrong_sp"),
])
def test_bad_token_refused_401(env, tok, drop):
    """Steps: Upgrade with a missing/forged/unknown-key/expired/foreign
    token; spdp answers 401 and closes; the drop reason is counted."""
    sp, cert, _ = env
    _, before = counters(sp)
    s = tun_agent.connect_tls(TUN, cert)
    status, _ = tun_agent.upgrade(s, tok)
    assert status == 401
    assert s.recv(10) == b""
    s.close()
    _, after = counters(sp)
    assert after[drop] == before[drop] + 1


def test_bad_upgrade_refused(env):
    """Steps: no Upgrade header -> 426; garbage -> 400; both counted."""
    sp, cert, _ = env
    _, before = counters(sp)
    s = tun_agent.connect_tls(TUN, cert)
    s.sendall(b"GET /agent HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 426")
    s.close()
    s = tun_agent.connect_tls(TUN, cert)
    s.sendall(b"POST / HTTP/1.0\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 400")
    s.close()
    _, after = counters(sp)
    assert after["tun_bad_protocol"] == before["tun_bad_protocol"] + 1
    assert after["tun_bad_request"] == before["tun_bad_request"] + 1


def _closed(s):
    try:
        return s.recv(10) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True


def test_slowloris_closed(env):
    """Steps: (1) TCP and nothing, (2) TLS done and no Upgrade, (3) half
    an Upgrade: each is closed by spdp at handshake_ms (the test waits on
    the close itself, no timing assertion), counted tun_handshake_timeout."""
    sp, cert, _ = env
    _, before = counters(sp)
    raw = socket.create_connection(("127.0.0.1", TUN), timeout=30)
    tls = tun_agent.connect_tls(TUN, cert)
    tls.settimeout(30)
    half = tun_agent.connect_tls(TUN, cert)
    half.settimeout(30)
    half.sendall(b"GET /agent HTTP/1.1\r\nHost: x\r\n")
    assert _closed(raw) and _closed(tls) and _closed(half)
    for s in (raw, tls, half):
        s.close()
    sp.wait(lambda: counters(sp)[1]["tun_handshake_timeout"] >= before["tun_handshake_timeout"] + 3,
            10, "slowloris counted")


def test_forward_needs_a_tunnel(env):
    """Steps: spctl tunnel open for a device with no tunnel fails cleanly."""
    sp, _, _ = env
    out = sp.spctl("tunnel", "open", "nobody", "80", check=False)
    assert out is None or "error" in out
