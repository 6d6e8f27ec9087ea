"""RTSP pulls through agent tunnels (issue 7, upstream half), end to end.

Topology: spdp + spcp on the host; a camera network namespace joined by a
veth pair. In the camera namespace: the real RTSP camera stand-in
(tests/camera/sp_camera, gst-rtsp-server: live H.264 from videotestsrc)
listening on the namespace's loopback only, and spagent allowed to reach
it. Nothing outside the namespace can reach the camera; spdp pulls it
through the agent's tunnel (an in-process tunnel stream, RTSP TCP
interleaved) into an ingest flow, and fans it out to UDP subscribers.

Viewers are real ffmpeg processes reading RTP through an SDP file, each a
subscriber of the one flow; `-progress` frame counts prove decoding. The
camera's own session count and its established connections prove there
is one upstream however many viewers. Also: Digest credentials (wrong,
then right), the camera going away and coming back (the pull retries),
and STOP (TEARDOWN seen by the camera).

Needs root (network namespaces) and sp_camera; skipped otherwise.
Ports: 39100-39999 (+ SP_TEST_PORT_OFFSET)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from camera import Camera, FfmpegViewer, _Viewer  # noqa: E402
from camnet import CamNet, agent_argv, endpoint_opts, sh, tunnel_opts  # noqa: E402
from pki import derive, make_pki, write  # noqa: E402
from sp_procs import BUILD, SANITIZER, Streampoint  # noqa: E402
from test_agent import Proc  # noqa: E402

OFF = int(os.environ.get("SP_TEST_PORT_OFFSET", "0"))
TUN, EP = 39101 + OFF, 39102 + OFF
CAM_PORT, CAM_AUTH_PORT = 39103 + OFF, 39104 + OFF   # inside the camera namespace only
REDIRECTOR = 39105 + OFF                             # answers 302 to CAM_PORT
VIEW = 39110 + OFF                                   # viewers' RTP ports on the host
MEDIA = 39200 + OFF
SP_ID, SERVER_ID = "sp-rtsp", "ep-rtsp"
NET = CamNet("rp", 214)

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
              pytest.mark.skipif(not Camera.available(), reason="sp_camera not built")]


def wait(cond, timeout, what):
    Streampoint.wait(cond, timeout, what)


class SdpViewer(FfmpegViewer):
    """ffmpeg decoding the RTP a subscriber gets, described by an SDP file."""

    def __init__(self, sdp_path, log_dir, name):
        argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                "-protocol_whitelist", "file,udp,rtp", "-i", sdp_path, "-map", "0:v:0",
                "-stats_period", "0.2", "-progress", "pipe:1", "-f", "null", "-"]
        _Viewer.__init__(self, argv, None, log_dir, name)


def viewer_sdp(d, name, port):
    return write(d, f"{name}.sdp", "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=viewer\r\n"
                 "c=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                 f"m=video {port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                 "a=fmtp:96 packetization-mode=1\r\n")


def pulls(sp):
    return {p["id"]: p for p in sp.spctl("rtsp")["pulls"]}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("rtsp"))
    procs = []
    ca, crt, key = make_pki(d, [NET.host_ip, "127.0.0.1"])
    master = os.urandom(32)
    keyring = write(d, "token.keys", f"k1 {os.urandom(32).hex()} current\n")
    mfile = write(d, "master.hex", master.hex() + "\n")
    kf = write(d, "cam-1.key", derive(master, "cam-1").hex() + "\n")
    dp = tunnel_opts(f"{NET.host_ip}:{TUN}", crt, key, keyring, SP_ID) + [
        "-o", "rtsp.retry_min_ms=200", "-o", "rtsp.retry_max_ms=1000", "-o", "rtsp.silence_ms=3000"]
    cp = endpoint_opts(f"{NET.host_ip}:{EP}", crt, key, SERVER_ID, mfile, keyring,
                       f"{SP_ID}@{NET.host_ip}:{TUN}")
    with NET:
        sp = Streampoint(workers=2, port_base=MEDIA, spdp_opts=dp, spcp_opts=cp)
        sp.spdp_opts += ["-o", f"media.port_max={MEDIA + 399}"]
        with Camera(CAM_PORT, netns=NET.ns, size="320x240", fps=15, keyint=15, log_dir=d) as cam, \
                Camera(CAM_AUTH_PORT, netns=NET.ns, size="160x120", fps=10, keyint=10,
                       user="admin", password="s3cret", auth="digest", log_dir=d,
                       name="camera-auth") as cam_auth, sp:
            agent = Proc("agent", NET.exec(*agent_argv(
                BUILD, "cam-1", kf, ca, SERVER_ID, f"{NET.host_ip}:{EP}",
                f"127.0.0.1:{CAM_PORT},127.0.0.1:{CAM_AUTH_PORT},127.0.0.1:{REDIRECTOR}")), d)
            procs.append(agent)
            try:
                agent.wait_line(r"tunnel .*: up", 30)
                wait(lambda: any(t["device"] == "cam-1" for t in sp.spctl("tunnels")["tunnels"]),
                     20, "cam-1's tunnel at spdp")
                yield type("Env", (), dict(dir=d, sp=sp, cam=cam, cam_auth=cam_auth, agent=agent))
            finally:
                for p in procs:
                    p.stop()
    bad = [f"{p.name}: {l}" for p in procs for _, l in p.lines if SANITIZER.search(l)]
    assert not bad, "\n".join(bad[:20])


def test_camera_unreachable_from_outside(env):
    r = sh("curl", "-s", "-m", "2", f"rtsp://127.0.0.1:{CAM_PORT}/live", check=False)
    assert r.returncode != 0
    assert env.cam.established() == 0


def test_one_pull_many_viewers(env):
    sp = env.sp
    sp.spctl("flow", "add", "id=1", "ingest=cam-1", "codec=h264")
    wait(lambda: sp.spctl("flow", "1")["state"] == "active", 10, "ingest flow active")
    r = sp.spctl("rtsp", "pull", "id=1", "device=cam-1", f"url=rtsp://127.0.0.1:{CAM_PORT}/live",
                 "flow=1")
    assert r["target"] == f"127.0.0.1:{CAM_PORT}"
    wait(lambda: pulls(sp)[1]["state"] == "playing", 20, "pull playing")
    p = pulls(sp)[1]
    assert p["tracks"][0]["encoding"] == "H264" and p["tracks"][0]["clock"] == 90000
    viewers = []
    try:
        for i in range(3):
            sdp = viewer_sdp(env.dir, f"v{i}", VIEW + 2 * i)
            viewers.append(SdpViewer(sdp, env.dir, f"viewer{i}"))
            sp.spctl("sub", "add", "flow=1", f"id={i + 1}", f"rtp=127.0.0.1:{VIEW + 2 * i}")
        for v in viewers:
            v.wait_frames(20, 40)
        # Exactly one upstream: one RTSP session and one TCP connection at the camera.
        assert env.cam.sessions("/live") == 1
        assert env.cam.established() == 1
        flow = sp.spctl("flow", "1")
        assert flow["subscribers"] == 3
        ws = sp.spctl("status")["spdp"]["workers_stats"]
        assert sum(w["counters"].get("rtsp_in_pkts", 0) for w in ws) > 0
        assert sum(w["counters"].get("rtsp_pull_playing", 0) for w in ws) >= 1
    finally:
        for v in viewers:
            v.stop()
        for i in range(3):
            sp.spctl("sub", "del", "flow=1", f"id={i + 1}", check=False)


def test_camera_restart_pull_retries(env):
    sp = env.sp
    wait(lambda: pulls(sp)[1]["state"] == "playing", 20, "pull playing")
    ends = pulls(sp)[1]["ends"]
    env.cam.stop()
    wait(lambda: pulls(sp)[1]["ends"] > ends, 20, "the pull noticed")
    assert pulls(sp)[1]["state"] in ("retrying", "connecting")
    env.cam.start()
    wait(lambda: pulls(sp)[1]["state"] == "playing", 30, "playing again")
    sdp = viewer_sdp(env.dir, "after", VIEW + 20)
    v = SdpViewer(sdp, env.dir, "viewer-after")
    try:
        sp.spctl("sub", "add", "flow=1", "id=9", f"rtp=127.0.0.1:{VIEW + 20}")
        v.wait_frames(10, 40)
    finally:
        v.stop()
        sp.spctl("sub", "del", "flow=1", "id=9", check=False)


def test_stop_tears_down(env):
    sp = env.sp
    wait(lambda: env.cam.sessions("/live") == 1, 20, "one session")
    sp.spctl("rtsp", "stop", "id=1")
    wait(lambda: pulls(sp)[1]["state"] == "stopped", 20, "stopped")
    env.cam.wait_sessions("/live", 0, timeout=20)
    wait(lambda: env.cam.established() == 0, 20, "the tunnel stream closed at the camera")


def test_digest_credentials(env):
    sp = env.sp
    sp.spctl("flow", "add", "id=2", "ingest=cam-1", "codec=h264")
    wait(lambda: sp.spctl("flow", "2")["state"] == "active", 10, "ingest flow active")
    url = f"url=rtsp://127.0.0.1:{CAM_AUTH_PORT}/live"
    sp.spctl("rtsp", "pull", "id=2", "device=cam-1", url, "flow=2", "user=admin", "pass=wrong")
    wait(lambda: pulls(sp)[2]["ends"] >= 1, 20, "refused")
    p = pulls(sp)[2]
    assert p["last_end"]["reason"] == "auth" and p["last_end"]["status"] == 401
    assert "wrong" not in str(sp.spctl("rtsp")), "credentials never shown"
    sp.spctl("rtsp", "stop", "id=2")
    wait(lambda: pulls(sp)[2]["state"] == "stopped", 20, "stopped")
    sp.spctl("rtsp", "pull", "id=2", "device=cam-1", url, "flow=2", "user=admin", "pass=s3cret")
    wait(lambda: pulls(sp)[2]["state"] == "playing", 20, "playing with the right password")
    assert env.cam_auth.sessions("/live") == 1
    sp.spctl("rtsp", "stop", "id=2")
    wait(lambda: pulls(sp)[2]["state"] == "stopped", 20, "stopped")


def test_on_demand(env):
    """Not pulled until a viewer comes; stopped a linger after the last left."""
    sp = env.sp
    sp.spctl("flow", "add", "id=5", "ingest=cam-1", "codec=h264")
    wait(lambda: sp.spctl("flow", "5")["state"] == "active", 10, "ingest flow active")
    sp.spctl("rtsp", "pull", "id=5", "device=cam-1", f"url=rtsp://127.0.0.1:{CAM_PORT}/live",
             "flow=5", "on_demand=1", "linger_ms=500")
    assert pulls(sp)[5]["state"] == "idle"
    assert env.cam.sessions("/live") == 0, "no viewer: no upstream"
    sdp = viewer_sdp(env.dir, "od", VIEW + 30)
    v = SdpViewer(sdp, env.dir, "viewer-od")
    try:
        sp.spctl("sub", "add", "flow=5", "id=1", f"rtp=127.0.0.1:{VIEW + 30}")
        wait(lambda: pulls(sp)[5]["state"] == "playing", 20, "started by the viewer")
        v.wait_frames(10, 40)
        assert env.cam.sessions("/live") == 1
    finally:
        v.stop()
        sp.spctl("sub", "del", "flow=5", "id=1", check=False)
    wait(lambda: pulls(sp)[5]["state"] == "idle", 20, "parked after the linger")
    env.cam.wait_sessions("/live", 0, timeout=20)
    p = pulls(sp)[5]
    assert p["starts"] == 1
    sp.spctl("rtsp", "stop", "id=5")
    assert pulls(sp)[5]["state"] == "stopped"


# An RTSP server that sends every request elsewhere (a camera behind a
# load-balancing front, or one that moved a stream): 302 to Location.
REDIRECT = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); print("ready", flush=True)
while True:
    c, _ = s.accept(); buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d: break
        buf += d
    cseq = [l.split(b":")[1].strip() for l in buf.split(b"\r\n") if l.lower().startswith(b"cseq:")]
    c.sendall(b"RTSP/1.0 302 Moved Temporarily\r\nCSeq: " + (cseq[0] if cseq else b"0") +
              b"\r\nLocation: " + sys.argv[2].encode() + b"\r\n\r\n")
    print("redirected", flush=True); c.close()
"""


def test_redirect_followed(env):
    sp = env.sp
    red = Proc("redirector", NET.exec("/usr/bin/python3", "-u", "-c", REDIRECT, str(REDIRECTOR),
                                      f"rtsp://127.0.0.1:{CAM_PORT}/live"), env.dir)
    try:
        red.wait_line("ready", 10)
        sp.spctl("flow", "add", "id=6", "ingest=cam-1", "codec=h264")
        wait(lambda: sp.spctl("flow", "6")["state"] == "active", 10, "ingest flow active")
        sp.spctl("rtsp", "pull", "id=6", "device=cam-1",
                 f"url=rtsp://127.0.0.1:{REDIRECTOR}/old/path", "flow=6")
        wait(lambda: pulls(sp)[6]["state"] == "playing", 20, "playing at the Location")
        p = pulls(sp)[6]
        assert p["last_end"]["reason"] == "redirect" and p["last_end"]["status"] == 302
        assert red.count("redirected") == 1
        env.cam.wait_sessions("/live", 1, timeout=20)
        sp.spctl("rtsp", "stop", "id=6")
        wait(lambda: pulls(sp)[6]["state"] == "stopped", 20, "stopped")
    finally:
        red.stop()


def test_refusals(env):
    sp = env.sp
    r = sp.spctl("rtsp", "pull", "id=3", "device=cam-1", "url=http://x/", "flow=1", check=False)
    assert "error" in r
    r = sp.spctl("rtsp", "pull", "id=3", "device=cam-1", "url=rtsp://127.0.0.1/x", "flow=77",
                 check=False)
    assert "error" in r
    r = sp.spctl("flow", "add", "id=3", "ingest=no-such-device", check=False)
    assert "error" in r
    r = sp.spctl("rtsp", "pull", "id=3", "device=cam-1", f"url=rtsp://u:p@127.0.0.1:{CAM_PORT}/live",
                 "flow=1", check=False)
    assert "credentials" in r["error"]
    # a target the agent does not allow: refused by the agent, counted, retried
    sp.spctl("rtsp", "pull", "id=4", "device=cam-1", "url=rtsp://127.0.0.1:1/x", "flow=1")
    wait(lambda: pulls(sp)[4]["ends"] >= 1, 20, "refused by the agent")
    assert pulls(sp)[4]["last_end"]["stream_error"]
    # one source per flow; a fed flow is not deleted
    r = sp.spctl("rtsp", "pull", "id=7", "device=cam-1", f"url=rtsp://127.0.0.1:{CAM_PORT}/live",
                 "flow=1", check=False)
    assert "another pull" in r["error"]
    r = sp.spctl("flow", "del", "id=1", check=False)
    assert "rtsp stop" in r["error"]
    sp.spctl("rtsp", "stop", "id=4")
    wait(lambda: pulls(sp)[4]["state"] == "stopped", 20, "stopped")
