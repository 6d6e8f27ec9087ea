"""The RTSP camera stand-in (tests/camera/sp_camera) and the viewer helpers
(camera.py) on their own, before streampoint is put between them.

Steps: make a clip and a JPEG with ffmpeg; start a camera serving /live
(320x240 H.264 + PCMA), /sub (160x120) and the looping /clip; pull it with
ffprobe, ffmpeg (TCP, UDP), gst-launch rtspsrc (TCP, UDP) and the raw
python client; then cameras with Basic and Digest auth, the snapshot
server, and a camera inside a network namespace.
Verify: resolutions and codecs; decoded frame counts; the clip loops; the
camera's session counts (and established TCP connections on its port)
equal the viewers; a joining viewer's first decoded frame is a keyframe;
a stalled viewer's backlog grows; wrong credentials get 401.

Ports 44100-44199 (the netns test's camera listens inside its namespace).
"""
import os
import sys
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import camera as C  # noqa: E402

PORT = 44100
AUTH_PORT = {"basic": 44110, "digest": 44111}
SNAP_PORT = 44120
NS_PORT = 44130
FPS, KEYINT = 20, 10

pytestmark = pytest.mark.skipif(not C.Camera.available(),
                                reason=f"{C.CAMERA} not built (gstreamer-rtsp-server-1.0 missing)")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("camera")
    return {"dir": str(d),
            "clip": C.make_clip(str(d / "clip.mp4"), size="256x144", fps=FPS, seconds=1, gop=5),
            "jpeg": C.make_snapshot(str(d / "snapshot.jpg"), size="320x240")}


@pytest.fixture(scope="module")
def cam(media):
    with C.Camera(PORT, sub="160x120", audio="pcma", clip=media["clip"], fps=FPS, keyint=KEYINT,
                  log_dir=media["dir"]) as c:
        yield c
    assert c.proc.p.returncode == 0, "\n".join(c.proc.lines[-20:])


def video(streams):
    return [s for s in streams if s["codec_type"] == "video"]


def test_probe_live_sub_clip(cam):
    live = C.ffprobe(cam.url("/live"))
    assert [(s["codec_name"], s["width"], s["height"]) for s in video(live)] == [("h264", 320, 240)]
    assert [s["codec_name"] for s in live if s["codec_type"] == "audio"] == ["pcm_alaw"]
    sub = video(C.ffprobe(cam.url("/sub"), transport="udp"))
    assert [(s["width"], s["height"]) for s in sub] == [(160, 120)]
    clip = video(C.ffprobe(cam.url("/clip")))
    assert [(s["codec_name"], s["width"], s["height"]) for s in clip] == [("h264", 256, 144)]


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_ffmpeg_decodes(cam, transport):
    r = C.ffmpeg_view(cam.url("/live"), transport, frames=30)
    assert (r.rc, r.frames, r.errors) == (0, 30, [])


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_gstreamer_decodes(cam, transport):
    r = C.gst_view(cam.url("/live"), transport, frames=20)
    assert (r.rc, r.frames, r.errors) == (0, 20, [])


def test_clip_loops(cam):
    start = len(cam.proc.lines)
    # the clip is 20 frames long: 50 decoded frames went round it twice
    r = C.ffmpeg_view(cam.url("/clip"), "tcp", frames=50)
    assert (r.rc, r.frames, r.errors) == (0, 50, [])
    cam.proc.wait_line(r"^clip looped", 5, start)


def test_session_counts_match_viewers(cam):
    viewers = [C.FfmpegViewer(cam.url("/live"), "tcp", seconds=60, name="v-tcp"),
               C.FfmpegViewer(cam.url("/live"), "udp", seconds=60, name="v-udp"),
               C.GstViewer(cam.url("/live"), "tcp", frames=100000, name="v-gst"),
               C.FfmpegViewer(cam.url("/sub"), "tcp", seconds=60, name="v-sub")]
    try:
        for v in viewers:
            v.wait_frames(5)
        st = cam.status()
        assert st["mounts"]["/live"] == {"sessions": 3, "playing": 3, "medias": 1}
        assert st["mounts"]["/sub"] == {"sessions": 1, "playing": 1, "medias": 1}
        assert st["clients"] == 4
        assert cam.established() == 4
        assert cam.bytes_acked() > 0
    finally:
        results = [v.stop() for v in viewers]
    assert all(r.errors == [] for r in results), [r.errors for r in results]
    cam.wait_sessions("/live", 0)
    cam.wait_sessions("/sub", 0)
    C.wait_for(lambda: cam.established() == 0, 10, "viewers' connections closed")


def test_joining_viewer_starts_at_keyframe(cam):
    with C.FfmpegViewer(cam.url("/live"), "tcp", seconds=60, name="holder") as holder:
        holder.wait_frames(KEYINT + 3)   # the shared media is mid-GOP for the joiner
        first = C.first_frames(cam.url("/live"), 3)
        assert first[0]["key_frame"] == 1 and first[0]["pict_type"] == "I", first
        # ffprobe's session must be gone before the next joiner: a shared
        # media still tearing one down answers the next SETUP with an error
        # (seen under ASan on a loaded machine).
        cam.wait_sessions("/live", 1)
        r = C.ffmpeg_view(cam.url("/live"), "udp", frames=KEYINT)
        assert (r.rc, r.frames, r.errors) == (0, KEYINT, [])
        cam.wait_sessions("/live", 1)    # the joiner's TEARDOWN may still be on its way
        holder.stop()


def test_stalled_viewer(cam):
    with C.stalled_viewer(cam.url("/sub")) as stalled:
        assert stalled.frames[0] >= 5
        C.wait_for(lambda: stalled.queued() > 0, 10, "the stalled viewer's backlog")
        assert cam.status()["mounts"]["/sub"]["playing"] == 1
        r = C.ffmpeg_view(cam.url("/sub"), "tcp", frames=15)
        assert (r.rc, r.frames, r.errors) == (0, 15, [])
    cam.wait_sessions("/sub", 0)


@pytest.mark.parametrize("method", ["basic", "digest"])
def test_auth(media, method):
    with C.Camera(AUTH_PORT[method], user="admin", password="s3cr:et", auth=method, fps=FPS,
                  keyint=KEYINT, log_dir=media["dir"], name=f"camera-{method}") as cam:
        assert C.rtsp_status(cam.url()) == 401
        assert C.rtsp_status(cam.url(user="admin", password="wrong")) == 401
        assert C.rtsp_status(cam.url(user="admin", password="s3cr:et")) == 200
        with pytest.raises(AssertionError, match="401"):
            C.ffprobe(cam.url(user="admin", password="wrong"))
        r = C.ffmpeg_view(cam.url(user="admin", password="s3cr:et"), "tcp", frames=10)
        assert (r.rc, r.frames, r.errors) == (0, 10, [])
        r = C.gst_view(cam.url(), "tcp", frames=10, user="admin", password="s3cr:et")
        assert (r.rc, r.frames, r.errors) == (0, 10, [])


def test_snapshot(media):
    with C.SnapshotServer(SNAP_PORT, media["jpeg"], user="admin", password="pw",
                          log_dir=media["dir"]) as snap:
        url = snap.url()
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(url, timeout=10)
        pw = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        pw.add_password(None, url.replace("snapshot.jpg", ""), "admin", "pw")
        opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(pw))
        body = opener.open(url, timeout=10).read()
        assert body[:3] == b"\xff\xd8\xff" and body == open(media["jpeg"], "rb").read()
        with pytest.raises(urllib.error.HTTPError, match="404"):
            opener.open(url.replace("snapshot.jpg", "other.jpg"), timeout=10)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")
def test_camera_in_netns(media):
    pid = os.getpid()
    with C.Netns(f"cm{pid}", f"10.215.{pid % 250 + 1}") as ns, \
         C.Camera(NS_PORT, netns=ns.name, fps=FPS, keyint=KEYINT, log_dir=media["dir"],
                  name="camera-ns") as cam:
        # from the host the camera's loopback address is not reachable
        with pytest.raises(OSError):
            C.connect("127.0.0.1", NS_PORT, timeout=2)
        with C.FfmpegViewer(cam.url(), "tcp", seconds=60, netns=ns.name) as v:
            v.wait_frames(5)
            with C.RtspClient(cam.url(), netns=ns.name) as raw:
                raw.play().read_frames(3)
                assert cam.established() == 2
                assert cam.sessions("/live") == 2
            assert v.stop().errors == []
        C.wait_for(lambda: cam.established() == 0, 10, "connections closed in the namespace")
