"""spagent + the agent endpoint in spcp + a tunnel peer, as real processes (issue 6).

spcp runs with [endpoint] enabled (no spdp needed: the endpoint does not
talk to the data plane). The streampoint side of each tunnel is
tests/agent_tunnel_peer (a TLS server that verifies the token and OPENs
streams for every connection on its forward ports, like ssh -R) until spdp
terminates tunnels itself. Behind the agent: python's http.server.

A small raw client here speaks the control protocol itself (TLS, Upgrade,
frames, HMAC proofs) to check what the agent would never do: wrong keys,
replayed and reflected proofs, malformed upgrades, silence.

Ports: 47100-47999 (SP_AGENT_PORT_BASE moves them). Every wait is bounded;
no assertion depends on how long something took.
"""
import base64
import hashlib
import hmac
import itertools
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

from sp_procs import BUILD, SANITIZER, Streampoint

BASE = int(os.environ.get("SP_AGENT_PORT_BASE", "47100"))
_ports = itertools.count(BASE)
PROTO = "streampoint-agent/1"
SERVER_ID = "ep-1"


def port():
    return next(_ports)


def wait(cond, timeout, what):
    Streampoint.wait(cond, timeout, what)


def hexfile(d, name, data):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(data.hex() + "\n")
    return p


def keyringfile(d, name, data, kid="k1"):
    """A token keyring (spcp and spdp share the format): "<kid> <hex> current"."""
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(f"# token keys\n{kid} {data.hex()} current\n")
    return p


def derive(master, device):
    return hmac.new(master, b"sp-device-key|" + device.encode(), hashlib.sha256).digest()


@pytest.fixture(scope="module")
def keys():
    d = tempfile.mkdtemp(prefix="sp-agent-keys-")
    cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    out = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=sp.test",
                          "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    master = os.urandom(32)
    listed = os.urandom(32)
    tok = os.urandom(32)
    with open(os.path.join(d, "devices.keys"), "w") as f:
        f.write("# listed devices\ncam-listed " + listed.hex() + "\n")
    return {"dir": d, "cert": cert, "key": key, "master": master, "listed": listed, "token": tok,
            "master_file": hexfile(d, "master.hex", master), "token_file": keyringfile(d, "token.keys", tok),
            "keys_file": os.path.join(d, "devices.keys")}


class Proc:
    def __init__(self, name, argv, d):
        self.name = name
        self.log_path = os.path.join(d, f"{name}.log")
        self.lines = []
        self.cv = threading.Condition()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        with open(self.log_path, "w") as log:
            for line in self.p.stdout:
                log.write(line)
                log.flush()
                with self.cv:
                    self.lines.append((time.monotonic(), line.rstrip("\n")))
                    self.cv.notify_all()

    def wait_line(self, pattern, timeout=15, start=0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for i in range(start, len(self.lines)):
                    if rx.search(self.lines[i][1]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0 or self.p.poll() is not None and not self.t.is_alive():
                    raise AssertionError(f"{self.name}: no line matching {pattern!r}:\n" +
                                         "\n".join(l for _, l in self.lines[-30:]))
                self.cv.wait(min(left, 0.2))

    def count(self, pattern):
        rx = re.compile(pattern)
        with self.cv:
            return sum(1 for _, l in self.lines if rx.search(l))

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.t.join(5)


class Env:
    """Processes of one test; stopped (and their logs checked) at the end."""

    def __init__(self, keys):
        self.k = keys
        self.dir = tempfile.mkdtemp(prefix="sp-agent-it-")
        self.procs = []
        self.ep_port = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            p.stop()
        bad = []
        for p in self.procs:
            for _, line in p.lines:
                if SANITIZER.search(line) or (line.startswith("<3>") and p.name.startswith("spcp")):
                    bad.append(f"{p.name}: {line}")
        if bad and exc[0] is None:
            raise AssertionError("unexpected log lines:\n" + "\n".join(bad[:20]))

    def spawn(self, name, argv):
        p = Proc(name, argv, self.dir)
        self.procs.append(p)
        return p

    def spcp(self, streampoints, extra=(), name="spcp"):
        self.ep_port = port()
        rt = os.path.join(self.dir, name)
        os.makedirs(rt, exist_ok=True)
        self.rt = rt
        opts = ["-o", f"spcp.runtime_dir={rt}", "-o", "endpoint.enable=true",
                "-o", f"endpoint.listen=127.0.0.1:{self.ep_port}",
                "-o", f"endpoint.tls_cert={self.k['cert']}", "-o", f"endpoint.tls_key={self.k['key']}",
                "-o", f"endpoint.server_id={SERVER_ID}",
                "-o", f"endpoint.master_key_file={self.k['master_file']}",
                "-o", f"endpoint.key_file={self.k['keys_file']}",
                "-o", f"endpoint.token_key_file={self.k['token_file']}",
                "-o", "endpoint.heartbeat_s=2"]
        for sid, p in streampoints:
            opts += ["-o", f"endpoint.streampoint={sid}@127.0.0.1:{p}"]
        p = self.spawn(name, [os.path.join(BUILD, "controlplane/spcp")] + opts + list(extra))
        p.wait_line(r"endpoint: listening")
        return p

    def peer(self, sid, tport, forwards, name=None, token_file=None):
        argv = [os.path.join(BUILD, "tests/agent_tunnel_peer"), "-l", f"127.0.0.1:{tport}",
                "-c", self.k["cert"], "-k", self.k["key"], "-i", sid,
                "-t", token_file or self.k["token_file"], "-T", "300"]
        for lp, target in forwards:
            argv += ["-f", f"{lp}={target}"]
        p = self.spawn(name or f"peer-{sid}", argv)
        p.wait_line("listening")
        return p

    def agent(self, device, endpoints, allow, key=None, extra=(), name=None):
        key = key if key is not None else derive(self.k["master"], device)
        kf = hexfile(self.dir, f"{device}.key", key)
        argv = [os.path.join(BUILD, "agent/spagent"), "-o", f"agent.device_id={device}",
                "-o", f"agent.key_file={kf}", "-o", f"agent.ca_file={self.k['cert']}",
                "-o", f"agent.server_id={SERVER_ID}", "-o", "agent.heartbeat_s=2",
                "-o", "agent.backoff_base_ms=100", "-o", "agent.backoff_cap_ms=1000"]
        for e in endpoints:
            argv += ["-o", f"agent.endpoint=127.0.0.1:{e}"]
        for a in allow:
            argv += ["-o", f"agent.allow={a}"]
        return self.spawn(name or f"agent-{device}", argv + list(extra))

    def http(self, root, hport):
        p = self.spawn(f"http-{hport}", ["/usr/bin/python3", "-u", "-m", "http.server", str(hport),
                                         "--bind", "127.0.0.1", "--directory", root])
        wait(lambda: _listening(hport), 15, "http.server")
        return p

    def ctl(self, *args):
        out = subprocess.run([os.path.join(BUILD, "ctl/spctl"), "-r", self.rt, "--json"] + list(args),
                             capture_output=True, text=True, timeout=20)
        import json
        return json.loads(out.stdout) if out.stdout.strip() else None


def _listening(p):
    try:
        socket.create_connection(("127.0.0.1", p), timeout=1).close()
        return True
    except OSError:
        return False


def fetch(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


# ---- raw control-protocol client ----

def frame(t, payload=b"", stream=0, flags=0):
    return struct.pack(">BBHI", t, flags, len(payload), stream) + payload


class Raw:
    def __init__(self, keys, ep_port, tls=True):
        ctx = ssl.create_default_context(cafile=keys["cert"])
        self.s = socket.create_connection(("127.0.0.1", ep_port), timeout=10)
        if tls:
            self.s = ctx.wrap_socket(self.s, server_hostname="127.0.0.1")
        self.buf = b""

    def upgrade(self, extra=b""):
        self.s.sendall(b"GET /agent HTTP/1.1\r\nHost: ep\r\nUpgrade: " + PROTO.encode() +
                       b"\r\nConnection: Upgrade\r\n" + extra + b"\r\n")
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]) if head else 0

    def recv_frame(self):
        while len(self.buf) < 8 or len(self.buf) < 8 + struct.unpack(">H", self.buf[2:4])[0]:
            d = self.s.recv(4096)
            if not d:
                return None
            self.buf += d
        t, fl, ln, st = struct.unpack(">BBHI", self.buf[:8])
        p = self.buf[8:8 + ln]
        self.buf = self.buf[8 + ln:]
        return t, p

    def hello(self, device):
        self.device = device.encode()
        self.nonce_a = os.urandom(32)
        self.s.sendall(frame(0x10, bytes([1, len(self.device)]) + self.device + self.nonce_a))
        f = self.recv_frame()
        if f is None or f[0] != 0x11:
            return f
        p = f[1]
        m = p[1]
        self.server_id = p[2:2 + m]
        self.nonce_s = p[2 + m:34 + m]
        self.proof_s = p[34 + m:66 + m]
        return f

    def transcript(self):
        return (self.nonce_a + self.nonce_s + bytes([len(self.device)]) + self.device +
                bytes([len(self.server_id)]) + self.server_id)

    def proof(self, key, label=b"agent->server"):
        return hmac.new(key, b"sp-auth-v1|" + label + b"|" + self.transcript(), hashlib.sha256).digest()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def refused(env):
    return env.ctl("agents")["refused"]


# ---- tests ----

def test_derived_key_tunnel_and_50mib_integrity(keys):
    with Env(keys) as env:
        www = os.path.join(env.dir, "www")
        os.makedirs(www)
        blob = os.urandom(1 << 20) * 50  # 50 MiB
        with open(os.path.join(www, "blob"), "wb") as f:
            f.write(blob)
        hp, tp, fp = port(), port(), port()
        env.http(www, hp)
        env.spcp([("sp-1", tp)])
        peer = env.peer("sp-1", tp, [(fp, f"127.0.0.1:{hp}")])
        agent = env.agent("cam-1", [env.ep_port], [f"127.0.0.1:{hp}"])
        agent.wait_line(r"tunnel .*: up")
        peer.wait_line(r"tunnel up device=cam-1")
        got = fetch(f"http://127.0.0.1:{fp}/blob", timeout=120)
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(blob).hexdigest()
        a = env.ctl("agents")
        assert a["count"] == 1
        row = a["agents"][0]
        assert row["device"] == "cam-1" and row["streampoint"] == "sp-1"
        assert row["source"].startswith("127.0.0.1:")
        # several streams at once, both directions byte-exact
        res = {}

        def get(i):
            res[i] = fetch(f"http://127.0.0.1:{fp}/blob", timeout=120)
        ts = [threading.Thread(target=get, args=(i,)) for i in range(4)]
        [t.start() for t in ts]
        [t.join(180) for t in ts]
        assert all(res.get(i) == blob for i in range(4))


def test_listed_key_authenticates(keys):
    with Env(keys) as env:
        tp = port()
        env.spcp([("sp-1", tp)])
        peer = env.peer("sp-1", tp, [])
        agent = env.agent("cam-listed", [env.ep_port], [], key=keys["listed"])
        agent.wait_line(r"control: authenticated")
        peer.wait_line(r"tunnel up device=cam-listed")


def test_handshake_refusals_counted(keys):
    with Env(keys) as env:
        env.spcp([("sp-1", port())], extra=["-o", "endpoint.revoked=cam-revoked",
                                              "-o", "endpoint.fail_burst=0"])
        key = derive(keys["master"], "cam-x")

        def attempt(device, make_proof):
            r = Raw(keys, env.ep_port)
            assert r.upgrade() == 101
            f = r.hello(device)
            if f is None or f[0] != 0x11:
                r.close()
                return f[0] if f else None
            assert r.server_id == SERVER_ID.encode()
            # the server proved it holds the key first
            assert hmac.compare_digest(r.proof_s, r.proof(derive(keys["master"], device), b"server->agent"))
            r.s.sendall(frame(0x12, make_proof(r)))
            f = r.recv_frame()
            r.close()
            return f[0] if f else None

        # the right key: AUTH_OK (0x13)
        assert attempt("cam-x", lambda r: r.proof(key)) == 0x13
        # wrong key: AUTH_FAIL (0x14)
        assert attempt("cam-x", lambda r: r.proof(os.urandom(32))) == 0x14
        # reflection: the server's own proof handed back
        assert attempt("cam-x", lambda r: r.proof_s) == 0x14
        # replay: a proof that was valid on an earlier connection
        old = {}

        def record(r):
            old["p"] = r.proof(key)
            return old["p"]
        assert attempt("cam-x", record) == 0x13
        assert attempt("cam-x", lambda r: old["p"]) == 0x14
        # revoked and unknown (a derived key exists for any id, so unknown
        # means an id the key file refuses: see the listed-only endpoint below)
        assert attempt("cam-revoked", lambda r: r.proof(derive(keys["master"], "cam-revoked"))) == 0x14
        c = refused(env)
        assert c["hs_bad_proof"] == 3
        assert c["hs_revoked"] == 1
        # malformed upgrade -> 400, wrong protocol -> 426, frame before HELLO
        r = Raw(keys, env.ep_port)
        r.s.sendall(b"POST /agent HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.s.recv(100).startswith(b"HTTP/1.1 400")
        r.close()
        r = Raw(keys, env.ep_port)
        r.s.sendall(b"GET /agent HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        assert r.s.recv(100).startswith(b"HTTP/1.1 426")
        r.close()
        r = Raw(keys, env.ep_port)
        assert r.upgrade() == 101
        r.s.sendall(frame(0x12, os.urandom(32)))
        assert r.recv_frame()[0] == 0x14
        r.close()
        c = refused(env)
        assert c["up_bad_method"] == 1 and c["up_no_upgrade"] == 1 and c["hs_state"] == 1
        assert env.ctl("agents")["count"] == 0  # nothing kept from refused attempts


def test_unknown_device_with_listed_keys_only(keys):
    with Env(keys) as env:
        # an endpoint without the master key: only listed devices exist
        env.spcp([("sp-1", port())], extra=["-o", "endpoint.master_key_file="])
        r = Raw(keys, env.ep_port)
        assert r.upgrade() == 101
        f = r.hello("cam-nobody")
        assert f is not None and f[0] == 0x14
        r.close()
        assert refused(env)["hs_unknown_device"] == 1


def test_failed_handshakes_rate_limited(keys):
    with Env(keys) as env:
        env.spcp([("sp-1", port())], extra=["-o", "endpoint.fail_burst=3",
                                              "-o", "endpoint.fail_window_s=600"])
        for _ in range(3):
            r = Raw(keys, env.ep_port)
            r.upgrade()
            r.hello("cam-x")
            r.s.sendall(frame(0x12, os.urandom(32)))
            r.recv_frame()
            r.close()
        # the source is out of allowance: closed on accept, before TLS
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            Raw(keys, env.ep_port).upgrade()
        c = refused(env)
        assert c["hs_bad_proof"] == 3 and c["rate_limited"] >= 1


def test_slowloris_closed_at_deadline(keys):
    with Env(keys) as env:
        env.spcp([("sp-1", port())], extra=["-o", "endpoint.handshake_timeout_ms=1000",
                                              "-o", "endpoint.fail_burst=0"])
        plain = socket.create_connection(("127.0.0.1", env.ep_port), timeout=10)  # no TLS at all
        tls_only = Raw(keys, env.ep_port)                                        # TLS, then silence
        half = Raw(keys, env.ep_port)                                            # half a request
        half.s.sendall(b"GET /agent HTTP/1.1\r\nHost: x\r\n")
        shaken = Raw(keys, env.ep_port)                                          # upgraded, no HELLO
        assert shaken.upgrade() == 101
        for s in (plain, tls_only.s, half.s, shaken.s):
            s.settimeout(15)
            try:
                assert s.recv(100) == b""  # closed by the server
            except (ConnectionResetError, ssl.SSLError):
                pass
        assert refused(env)["deadline"] == 4
        assert env.ctl("agents")["connections"] == 0


def test_endpoint_failover_and_backoff(keys):
    with Env(keys) as env:
        tp = port()
        env.spcp([("sp-1", tp)])
        env.peer("sp-1", tp, [])
        dead = port()  # nothing listens there
        agent = env.agent("cam-1", [dead, env.ep_port], [])
        agent.wait_line(r"control: authenticated at 127\.0\.0\.1:%d" % env.ep_port)
        assert agent.count(r"control: 127\.0\.0\.1:%d connect failed" % dead) >= 1
        # backoff: only dead endpoints; attempts spaced with growing ceilings, bounded
        lone = env.agent("cam-2", [dead, port()], [], name="agent-backoff")
        lone.wait_line(r"attempt 6\)", timeout=30)
        delays = [int(m.group(1)) for _, l in lone.lines
                  for m in [re.search(r"next attempt in (\d+) ms", l)] if m]
        assert len(delays) >= 5 and all(0 <= d <= 1000 for d in delays)
        time.sleep(2)
        n = lone.count(r"control: connecting")
        # a tight retry loop would make thousands; full jitter allows a few per second
        assert n < 100, n


def test_switch_moves_the_tunnel_and_streampoint_down(keys):
    with Env(keys) as env:
        www = os.path.join(env.dir, "www")
        os.makedirs(www)
        with open(os.path.join(www, "f"), "wb") as f:
            f.write(b"hello camera\n" * 1000)
        hp, t1, t2, f1, f2 = port(), port(), port(), port(), port()
        env.http(www, hp)
        env.spcp([("sp-1", t1), ("sp-2", t2)])
        p1 = env.peer("sp-1", t1, [(f1, f"127.0.0.1:{hp}")])
        p2 = env.peer("sp-2", t2, [(f2, f"127.0.0.1:{hp}")])
        agent = env.agent("cam-1", [env.ep_port], [f"127.0.0.1:{hp}"])
        agent.wait_line(r"tunnel .*: up")
        cur = env.ctl("agents")["agents"][0]["streampoint"]
        peers = {"sp-1": (p1, f1), "sp-2": (p2, f2)}
        other = "sp-2" if cur == "sp-1" else "sp-1"
        peers[cur][0].wait_line("tunnel up device=cam-1")
        assert fetch(f"http://127.0.0.1:{peers[cur][1]}/f") == b"hello camera\n" * 1000
        r = env.ctl("agent", "switch", "cam-1", other)
        assert r["streampoint"] == other
        peers[other][0].wait_line("tunnel up device=cam-1")
        peers[cur][0].wait_line("goaway reason=shutdown")
        peers[cur][0].wait_line("tunnel down device=cam-1")
        assert fetch(f"http://127.0.0.1:{peers[other][1]}/f") == b"hello camera\n" * 1000
        assert env.ctl("agents")["agents"][0]["streampoint"] == other
        # marking the streampoint down moves its agents back
        i = peers[cur][0].count("tunnel up device=cam-1")
        r = env.ctl("streampoint", "down", other)
        assert r["moved"] == 1
        wait(lambda: peers[cur][0].count("tunnel up device=cam-1") > i, 15, "tunnel back")
        assert env.ctl("agents")["agents"][0]["streampoint"] == cur


def test_goaway_and_revoke(keys):
    with Env(keys) as env:
        tp = port()
        env.spcp([("sp-1", tp)])
        peer = env.peer("sp-1", tp, [])
        agent = env.agent("cam-1", [env.ep_port], [])
        agent.wait_line(r"tunnel .*: up")
        env.ctl("agent", "goaway", "cam-1")
        agent.wait_line(r"is draining \(GOAWAY shutdown\)")
        # it comes back (single endpoint), the tunnel stayed up meanwhile
        i = agent.wait_line(r"control: authenticated", start=0)
        agent.wait_line(r"control: authenticated", start=i + 1)
        assert peer.count("tunnel down") == 0
        env.ctl("agent", "revoke", "cam-1")
        agent.wait_line(r"revoked the device")
        peer.wait_line("tunnel down device=cam-1")
        assert env.ctl("agents")["count"] == 0


def test_local_service_down_then_back_and_allow_list(keys):
    with Env(keys) as env:
        www = os.path.join(env.dir, "www")
        os.makedirs(www)
        with open(os.path.join(www, "f"), "wb") as f:
            f.write(b"x" * 100000)
        hp, tp, fp, fp_bad = port(), port(), port(), port()
        env.spcp([("sp-1", tp)])
        peer = env.peer("sp-1", tp, [(fp, f"127.0.0.1:{hp}"), (fp_bad, "127.0.0.1:22")])
        agent = env.agent("cam-1", [env.ep_port], [f"127.0.0.1:{hp}"])
        peer.wait_line("tunnel up device=cam-1")
        # service down: OPEN_FAIL(connect_failed); the agent stays up
        s = socket.create_connection(("127.0.0.1", fp), timeout=10)
        peer.wait_line("open_fail stream=1 reason=connect_failed")
        assert s.recv(10) == b""
        s.close()
        # not on the allow-list: refused
        s = socket.create_connection(("127.0.0.1", fp_bad), timeout=10)
        peer.wait_line("open_fail stream=2 reason=refused")
        s.close()
        env.http(www, hp)
        assert fetch(f"http://127.0.0.1:{fp}/f") == b"x" * 100000
        assert agent.p.poll() is None


def test_tunnel_token_refused_agent_asks_again(keys):
    with Env(keys) as env:
        tp = port()
        env.spcp([("sp-1", tp)])
        # this streampoint holds another token key: every token fails (401)
        other = keyringfile(env.dir, "other.keys", os.urandom(32))
        peer = env.peer("sp-1", tp, [], token_file=other)
        agent = env.agent("cam-1", [env.ep_port], [])
        peer.wait_line("refused err=tok_bad_sig")
        agent.wait_line(r"token refused \(401\)")
        agent.wait_line(r"reconnecting for a fresh token")


def test_expired_and_foreign_tokens_at_the_tunnel(keys):
    """The token checks a streampoint makes (here the test peer, with the
    same agent_auth_token_verify spdp will use), driven by hand."""
    with Env(keys) as env:
        tp = port()
        peer = env.peer("sp-1", tp, [])

        def b64(b):
            return base64.urlsafe_b64encode(b).rstrip(b"=")

        def token(sp, iat, exp, key=keys["token"], dev=b"cam-1"):
            body = b".".join([b"spt1", b"k1", b64(dev), b64(sp), b64(struct.pack(">QQ", iat, exp))])
            return body + b"." + b64(hmac.new(key, body, hashlib.sha256).digest())

        now = int(time.time())
        cases = [(token(b"sp-1", now - 7200, now - 3600), "tok_expired"),
                 (token(b"sp-2", now, now + 600), "tok_wrong_streampoint"),
                 (token(b"sp-1", now, now + 600, key=os.urandom(32)), "tok_bad_sig")]
        for tok, err in cases:
            r = Raw(keys, tp)
            assert r.upgrade(b"Authorization: Bearer " + tok + b"\r\n") == 401
            r.close()
            peer.wait_line(f"refused err={err}")
        r = Raw(keys, tp)
        assert r.upgrade(b"Authorization: Bearer " + token(b"sp-1", now, now + 600) + b"\r\n") == 101
        r.close()
