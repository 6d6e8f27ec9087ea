"""Snapshots through agent tunnels (issue 7): `spctl snapshot`, end to end.

Topology (the shape of test_rtsp_pull.py): spdp + spcp on the host; a
camera network namespace joined by a veth pair. In the namespace: two
HTTP snapshot servers (camera.py's SnapshotServer, one with Basic auth)
on the namespace's loopback only, and spagent allowed to reach them.
`spctl snapshot` asks spcp for a short-lived forward, GETs the JPEG through
it and closes it: the file must be byte-identical to the one served and
ffprobe must read it as a JPEG. Also: wrong password -> 401, path not
found -> 404, a device without a tunnel, a target outside the agent's
allow-list; no forward is left open afterwards. A third server (this file
run as a script) offers Digest and Basic and answers chunked: spctl must
pick Digest and reassemble the chunks.

Needs root (network namespaces); skipped otherwise.
Ports: 38100-38199 (+ SP_TEST_PORT_OFFSET)."""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from camera import SnapshotServer, make_snapshot  # noqa: E402
from camnet import CamNet, agent_argv, endpoint_opts, sh, tunnel_opts  # noqa: E402
from pki import derive, make_pki, write  # noqa: E402
from sp_procs import BUILD, SANITIZER, Streampoint  # noqa: E402
from test_agent import Proc  # noqa: E402

OFF = int(os.environ.get("SP_TEST_PORT_OFFSET", "0"))
TUN, EP = 38101 + OFF, 38102 + OFF
SNAP, SNAP_AUTH, SNAP_DIGEST = 38103 + OFF, 38104 + OFF, 38105 + OFF  # in the camera namespace
MEDIA = 38110 + OFF
SP_ID, SERVER_ID = "sp-snap", "ep-snap"
NET = CamNet("sn", 215)
NS = NET.ns
PASSWORD = "s3cret-Pw"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")


in_ns = NET.exec


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def snapshot(env, *args, device="cam-1", out=None, timeout=30):
    """Runs spctl snapshot; returns (rc, summary dict from stderr, stdout bytes, stderr)."""
    argv = [os.path.join(BUILD, "ctl/spctl"), "-r", env.sp.dir, "--json", "snapshot", device,
            *args]
    if out:
        argv += ["-o", out]
    p = subprocess.run(argv, capture_output=True, timeout=timeout)
    err = p.stderr.decode(errors="replace")
    lines = [l for l in err.splitlines() if l.startswith("{")]
    return p.returncode, (json.loads(lines[-1]) if lines else {}), p.stdout, err


def open_forwards(env):
    return [f for f in env.sp.spctl("tunnels")["forwards"]
            if f["state"] in ("pending", "listening")]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("snap"))
    procs = []
    ca, crt, key = make_pki(d, [NET.host_ip, "127.0.0.1"])
    master = os.urandom(32)
    keyring = write(d, "token.keys", f"k1 {os.urandom(32).hex()} current\n")
    mfile = write(d, "master.hex", master.hex() + "\n")
    jpeg = make_snapshot(os.path.join(d, "served.jpg"), size="640x360")
    NET.up()
    try:
        dp = tunnel_opts(f"{NET.host_ip}:{TUN}", crt, key, keyring, SP_ID)
        cp = endpoint_opts(f"{NET.host_ip}:{EP}", crt, key, SERVER_ID, mfile, keyring,
                           f"{SP_ID}@{NET.host_ip}:{TUN}")
        sp = Streampoint(workers=2, port_base=MEDIA, spdp_opts=dp, spcp_opts=cp)
        sp.spdp_opts += ["-o", f"media.port_max={MEDIA + 49}"]
        kf = write(d, "cam-1.key", derive(master, "cam-1").hex() + "\n")
        with SnapshotServer(SNAP, jpeg, netns=NS, log_dir=d) as plain, \
                SnapshotServer(SNAP_AUTH, jpeg, netns=NS, user="admin", password=PASSWORD,
                               log_dir=d) as auth, sp:
            agent = Proc("agent", in_ns(*agent_argv(
                BUILD, "cam-1", kf, ca, SERVER_ID, f"{NET.host_ip}:{EP}",
                f"127.0.0.1:{SNAP},127.0.0.1:{SNAP_AUTH},127.0.0.1:{SNAP_DIGEST}")), d)
            procs.append(agent)
            digest = Proc("digest", in_ns(sys.executable, "-u", os.path.abspath(__file__),
                                          "serve-digest", str(SNAP_DIGEST), jpeg, "admin",
                                          PASSWORD), d)
            procs.append(digest)
            digest.wait_line(r"^ready", 20)
            agent.wait_line(r"tunnel .*: up", 30)
            Streampoint.wait(lambda: any(t["device"] == "cam-1"
                                         for t in sp.spctl("tunnels")["tunnels"]),
                             20, "cam-1's tunnel at spdp")
            yield type("Env", (), dict(dir=d, sp=sp, jpeg=jpeg, plain=plain, auth=auth))
            assert not open_forwards(type("E", (), dict(sp=sp))), "no forward left open"
            for p in procs:
                p.stop()
    finally:
        for p in procs:
            p.stop()
        NET.down()
    bad = [f"{p.name}: {l}" for p in procs for _, l in p.lines if SANITIZER.search(l)]
    assert not bad, "\n".join(bad[:20])


def test_server_unreachable_from_outside(env):
    r = sh("curl", "-s", "-m", "2", f"http://127.0.0.1:{SNAP}/snapshot.jpg", check=False)
    assert r.returncode != 0


def test_snapshot_is_the_served_jpeg(env):
    out = os.path.join(env.dir, "got.jpg")
    rc, s, stdout, err = snapshot(env, "--port", str(SNAP), out=out)
    assert rc == 0, err
    assert stdout == b""
    assert sha256(out) == sha256(env.jpeg)
    assert s["status"] == 200 and s["content_type"] == "image/jpeg"
    assert s["bytes"] == os.path.getsize(env.jpeg) and s["auth"] == "none"
    probe = json.loads(sh("ffprobe", "-v", "error", "-show_streams", "-of", "json", out).stdout)
    v = probe["streams"][0]
    assert v["codec_name"] == "mjpeg" and (v["width"], v["height"]) == (640, 360)
    assert not open_forwards(env)
    # the forward was used and closed, not left to idle out
    fwd = [f for f in env.sp.spctl("tunnels")["forwards"] if f["id"] == s["forward"]][0]
    assert fwd["state"] == "closed" and fwd["closed"] == "unlisten" and fwd["connections"] == 1


def test_snapshot_to_stdout_text_summary(env):
    p = subprocess.run([os.path.join(BUILD, "ctl/spctl"), "-r", env.sp.dir, "snapshot", "cam-1",
                        "--port", str(SNAP), "--host", "127.0.0.1", "--path", "/snapshot.jpg"],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    with open(env.jpeg, "rb") as f:
        assert p.stdout == f.read()
    assert b"200 OK, image/jpeg" in p.stderr


def test_basic_auth(env):
    out = os.path.join(env.dir, "auth.jpg")
    af = write(env.dir, "cam.auth", f"admin:{PASSWORD}\n")
    rc, s, _, err = snapshot(env, "--port", str(SNAP_AUTH), "--auth-file", af, out=out)
    assert rc == 0, err
    assert sha256(out) == sha256(env.jpeg) and s["auth"] == "basic"
    rc, s, _, err = snapshot(env, "--port", str(SNAP_AUTH), "--user", "admin", "--pass", PASSWORD)
    assert rc == 0, err


def test_wrong_password_is_401(env):
    out = os.path.join(env.dir, "wrong.jpg")
    rc, s, stdout, err = snapshot(env, "--port", str(SNAP_AUTH), "--user", "admin",
                                  "--pass", "not-the-Pw", out=out)
    assert rc == 7, err
    assert s["status"] == 401 and "refused the credentials" in s["error"]
    assert not os.path.exists(out) and stdout == b""
    assert "not-the-Pw" not in err and PASSWORD not in err
    rc, s, _, err = snapshot(env, "--port", str(SNAP_AUTH))
    assert rc == 7 and s["status"] == 401 and "needs credentials" in s["error"]
    assert not open_forwards(env)


def test_not_found_is_404(env):
    rc, s, stdout, err = snapshot(env, "--port", str(SNAP), "--path", "/nope.jpg")
    assert rc == 7, err
    assert s["status"] == 404 and "HTTP 404" in s["error"]
    assert stdout == b""


def test_device_without_tunnel(env):
    rc, s, _, err = snapshot(env, "--port", str(SNAP), device="cam-none")
    assert rc == 6, err
    assert "no tunnel for device cam-none" in s["error"]


def test_target_not_allowed(env):
    rc, s, _, err = snapshot(env, "--port", "1", "--timeout-ms", "10000")
    assert rc == 10, err
    assert "refused to open 127.0.0.1:1" in s["error"]
    assert not open_forwards(env)


def test_bad_arguments(env):
    rc, _, _, err = snapshot(env, "--path", "no-slash")
    assert rc == 1
    rc, _, _, err = snapshot(env, "--user", "admin")
    assert rc == 1 and "together" in err
    assert not open_forwards(env)


def test_digest_and_chunked(env):
    out = os.path.join(env.dir, "digest.jpg")
    rc, s, _, err = snapshot(env, "--port", str(SNAP_DIGEST), "--user", "admin",
                             "--pass", PASSWORD, out=out)
    assert rc == 0, err
    assert s["auth"] == "digest" and s["status"] == 200
    assert sha256(out) == sha256(env.jpeg)
    rc, s, _, err = snapshot(env, "--port", str(SNAP_DIGEST), "--user", "admin", "--pass", "x")
    assert rc == 7 and s["status"] == 401 and s["auth"] == "digest"



def test_malformed_timeout_redirect(env):
    out = os.path.join(env.dir, "odd.jpg")
    rc, s, stdout, err = snapshot(env, "--port", str(SNAP_DIGEST), "--path", "/bad", out=out)
    assert rc == 9, err
    assert "malformed response (content_length)" in s["error"]
    assert not os.path.exists(out) and stdout == b""
    rc, s, _, err = snapshot(env, "--port", str(SNAP_DIGEST), "--path", "/stall",
                             "--timeout-ms", "1500")
    assert rc == 8, err
    assert "timed out: no complete response after" in s["error"]
    rc, s, _, err = snapshot(env, "--port", str(SNAP_DIGEST), "--path", "/moved")
    assert rc == 7, err
    assert s["status"] == 302 and "Location: http://127.0.0.1/snapshot.jpg" in s["error"]
    assert not open_forwards(env)


# ---- a Digest-only camera answering chunked (run as a script) ----------------

def _serve_digest(port, jpeg, user, password):
    import http.server

    with open(jpeg, "rb") as f:
        body = f.read()
    realm, nonce = "snapcam", os.urandom(8).hex()

    def md5(x):
        return hashlib.md5(x.encode()).hexdigest()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def ok(self, h):
            if not h.startswith("Digest "):
                return False
            p = dict(re.findall(r'(\w+)="?([^",]*)"?', h[7:]))
            ha1 = md5(f"{user}:{realm}:{password}")
            ha2 = md5(f"GET:{p.get('uri')}")
            want = md5(f"{ha1}:{nonce}:{p.get('nc')}:{p.get('cnonce')}:auth:{ha2}")
            return (p.get("username") == user and p.get("nonce") == nonce
                    and p.get("uri") == self.path and p.get("response") == want)

        def do_GET(self):
            if self.path == "/bad":      # two Content-Lengths that disagree
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                 b"Content-Length: 6\r\n\r\nhello!")
                self.close_connection = True
                return
            if self.path == "/stall":    # headers, then never the body
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe")
                self.wfile.flush()
                signal.pause()
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.1/snapshot.jpg")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if not self.ok(self.headers.get("Authorization", "")):
                self.send_response(401)
                self.send_header("WWW-Authenticate", f'Basic realm="{realm}"')
                self.send_header("WWW-Authenticate",
                                 f'Digest realm="{realm}", nonce="{nonce}", qop="auth", '
                                 'algorithm=MD5')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            at, step = 0, 1
            while at < len(body):
                piece = body[at:at + step]
                self.wfile.write(b"%x;n=%d\r\n%s\r\n" % (len(piece), step, piece))
                at, step = at + len(piece), step * 3 + 1
            self.wfile.write(b"0\r\nX-Done: yes\r\n\r\n")
            self.close_connection = True

        def log_message(self, fmt, *args):
            print("http " + fmt % args, flush=True)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "serve-digest":
    _serve_digest(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
