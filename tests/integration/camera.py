"""A camera and real RTSP viewers for tests (issue 7).

Camera: tests/camera/sp_camera (gst-rtsp-server), optionally inside a
network namespace, with /live, /sub, a looping /clip and a snapshot HTTP
server (this file run as `camera.py snapshot ...`, i.e. python's
http.server). Its session counts per mount ("status") are the camera-side
proof of "exactly one upstream session".

Viewers: ffprobe, ffmpeg (`-progress` frame counts prove decoding),
gst-launch-1.0 rtspsrc (counted by fakesink's last-message lines), and a
pure-python RTSP client (RtspClient) that can stop reading after PLAY to
play a stalled viewer. Each runs in a namespace when given one.

Nothing here sleeps for a fixed time to decide an outcome: waits are for a
line, a count or a process, bounded by a timeout that only turns a hang
into a failure.
"""
import base64
import ctypes
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import urllib.parse

BUILD = os.environ.get("SP_BUILD_DIR",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "debug"))
CAMERA = os.path.join(BUILD, "tests", "camera", "sp_camera")
# GLib/GStreamer's process-lifetime allocations, for the asan build
LSAN_SUPP = os.path.join(os.path.dirname(__file__), "..", "camera", "lsan.supp")
SANITIZER = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:")


def in_ns(netns, argv):
    return (["ip", "netns", "exec", netns] if netns else []) + list(argv)


def sh(*argv, check=True, timeout=30):
    out = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and out.returncode:
        raise AssertionError(f"{argv}: rc {out.returncode}: {out.stderr}")
    return out


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ---- media files the suite makes -----------------------------------------

def make_clip(path, size="256x144", fps=15, seconds=2, gop=15):
    """An H.264 clip (MP4 or MKV by extension) of ffmpeg's testsrc2, no
    B-frames, a keyframe every `gop` frames."""
    sh("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
       "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}", "-c:v", "libx264",
       "-preset", "ultrafast", "-bf", "0", "-g", str(gop), "-pix_fmt", "yuv420p", path,
       timeout=120)
    return path


def make_snapshot(path, size="320x240"):
    sh("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
       "-i", f"testsrc2=size={size}:rate=1", "-frames:v", "1", path, timeout=60)
    return path


# ---- processes -------------------------------------------------------------

class Proc:
    """A child whose stdout+stderr lines are kept and can be waited for."""

    def __init__(self, name, argv, log_dir=None, env=None):
        self.name = name
        self.argv = argv
        self.lines = []
        self.cv = threading.Condition()
        self.log = open(os.path.join(log_dir, f"{name}.log"), "w") if log_dir else None
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, text=True, errors="replace",
                                  env=env)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            if self.log:
                self.log.write(line)
                self.log.flush()
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_line(self, pattern, timeout=15, start=0):
        """Index of the first line at or after `start` matching `pattern`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for i in range(start, len(self.lines)):
                    if rx.search(self.lines[i]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0 or not self.t.is_alive():
                    raise AssertionError(f"{self.name}: no line matching {pattern!r} "
                                         f"(rc {self.p.poll()}):\n" + "\n".join(self.lines[-30:]))
                self.cv.wait(min(left, 0.2))

    def count(self, pattern):
        rx = re.compile(pattern)
        with self.cv:
            return sum(1 for l in self.lines if rx.search(l))

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.t.join(5)
        if self.log:
            self.log.close()
            self.log = None
        return self.p.returncode


# ---- the camera --------------------------------------------------------------

class Camera:
    """sp_camera as a context manager. `status()` asks it (SIGUSR1) for its
    session counts: {"clients": N, "mounts": {"/live": {"sessions": N,
    "playing": N, "medias": N}, ...}}."""

    def __init__(self, port, address="127.0.0.1", netns=None, size="320x240", fps=15,
                 keyint=15, sub=None, audio=None, clip=None, user=None, password=None,
                 auth="basic", session_timeout=None, udp_ports=None, log_dir=None,
                 name="camera"):
        self.port, self.address, self.netns = port, address, netns
        self.user, self.password = user, password
        self.name, self.log_dir = name, log_dir
        argv = [CAMERA, "-p", str(port), "-a", address, "-r", size, "-f", str(fps),
                "-k", str(keyint)]
        if sub:
            argv += ["-S", sub]
        if audio:
            argv += ["-A", audio]
        if clip:
            argv += ["-c", clip]
        if user:
            argv += ["-u", user, "-P", password, "-m", auth]
        if session_timeout:
            argv += ["-t", str(session_timeout)]
        if udp_ports:
            argv += ["-U", f"{udp_ports[0]}-{udp_ports[1]}"]
        self.argv = in_ns(netns, argv)
        self.proc = None
        self._seq = 0

    @staticmethod
    def available():
        return os.access(CAMERA, os.X_OK)

    def start(self, timeout=20):
        env = dict(os.environ)
        lsan = env.get("LSAN_OPTIONS", "")
        env["LSAN_OPTIONS"] = (lsan + ":" if lsan else "") + f"suppressions={LSAN_SUPP}"
        self.proc = Proc(self.name, self.argv, self.log_dir, env)
        self._seq = 0  # a new process counts its status lines from 1
        self.proc.wait_line(r"^ready port=", timeout)
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """SIGTERM; returns the exit code. Raises on sanitizer reports."""
        if not self.proc:
            return None
        rc = self.proc.stop()
        bad = [l for l in self.proc.lines if SANITIZER.search(l)]
        if bad:
            raise AssertionError(f"{self.name}: sanitizer report:\n" + "\n".join(bad[:20]))
        return rc

    def url(self, mount="/live", host=None, user=None, password=None):
        auth = ""
        if user is not None:
            auth = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password or '', safe='')}@"
        return f"rtsp://{auth}{host or self.address}:{self.port}{mount}"

    def status(self, timeout=10):
        """Current counts, asked for now (not a periodic snapshot)."""
        start = len(self.proc.lines)
        self.proc.p.send_signal(signal.SIGUSR1)
        while True:
            i = self.proc.wait_line(r"^status \{", timeout, start)
            st = json.loads(self.proc.lines[i][len("status "):])
            if st["seq"] > self._seq:
                self._seq = st["seq"]
                return st
            start = i + 1

    def sessions(self, mount="/live", key="sessions"):
        return self.status()["mounts"][mount][key]

    def wait_sessions(self, mount, n, key="sessions", timeout=20):
        wait_for(lambda: self.sessions(mount, key) == n, timeout,
                 f"{n} {key} on {mount} (now {self.sessions(mount, key)})")

    def established(self):
        """TCP connections established to the camera's RTSP port, counted
        in its namespace: the camera-side view of "how many upstreams"."""
        return tcp_established(self.port, self.netns)

    def bytes_acked(self):
        """Bytes sent over the camera's open RTSP/TCP connections (not UDP)."""
        return tcp_bytes_acked(self.port, self.netns)


def tcp_established(port, netns=None):
    out = sh(*in_ns(netns, ["ss", "-Htn", "state", "established", f"( sport = :{port} )"]))
    return sum(1 for l in out.stdout.splitlines() if l.strip())


def tcp_bytes_acked(port, netns=None):
    """Bytes the peers acknowledged on the established connections from
    `port` (ss -ti): a camera's upstream bytes over TCP, while they last."""
    out = sh(*in_ns(netns, ["ss", "-Htin", "state", "established", f"( sport = :{port} )"]))
    return sum(int(n) for n in re.findall(r"\bbytes_acked:(\d+)", out.stdout))


class SnapshotServer:
    """The camera's HTTP snapshot (GET /snapshot.jpg, optional Basic auth):
    this file run as a server, in the camera's namespace when given one."""

    def __init__(self, port, jpeg, address="127.0.0.1", netns=None, user=None, password=None,
                 log_dir=None):
        argv = [sys.executable, "-u", os.path.abspath(__file__), "snapshot", address, str(port),
                jpeg]
        if user:
            argv += [user, password]
        self.argv = in_ns(netns, argv)
        self.port, self.address, self.log_dir = port, address, log_dir
        self.proc = None

    def __enter__(self):
        self.proc = Proc("snapshot", self.argv, self.log_dir)
        self.proc.wait_line(r"^ready", 20)
        return self

    def __exit__(self, *exc):
        self.proc.stop()

    def url(self, host=None):
        return f"http://{host or self.address}:{self.port}/snapshot.jpg"


def _serve_snapshot(address, port, jpeg, user=None, password=None):
    import http.server

    with open(jpeg, "rb") as f:
        body = f.read()
    want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() if user else None

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if want and self.headers.get("Authorization") != want:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path.split("?", 1)[0] != "/snapshot.jpg":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            print("http " + fmt % args, flush=True)

    srv = http.server.ThreadingHTTPServer((address, port), Handler)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("ready", flush=True)
    srv.serve_forever()


# ---- viewers -----------------------------------------------------------------

@dataclasses.dataclass
class ViewResult:
    frames: int          # decoded video frames
    rc: int              # process exit code
    errors: list         # its error-level output lines


# ffmpeg's tools probe a live input for 5 s by default; our cameras put
# everything in the SDP and start at a keyframe, so half a second is plenty.
PROBE = ["-analyzeduration", "500000"]


def ffprobe(url, transport="tcp", netns=None, timeout=30):
    """The streams ffprobe finds (list of dicts: codec_type, codec_name,
    width, height, ...). Raises with ffprobe's message on failure (e.g.
    '401 Unauthorized')."""
    out = sh(*in_ns(netns, ["ffprobe", "-v", "error", *PROBE, "-rtsp_transport", transport,
                            "-timeout", "10000000", "-show_streams", "-of", "json", url]),
             check=False, timeout=timeout)
    if out.returncode:
        raise AssertionError(f"ffprobe {url}: rc {out.returncode}: {out.stderr.strip()}")
    return json.loads(out.stdout)["streams"]


def first_frames(url, n=5, transport="tcp", netns=None, timeout=30):
    """The first n video frames a fresh viewer decodes: dicts with
    key_frame (0/1) and pict_type."""
    out = sh(*in_ns(netns, ["ffprobe", "-v", "error", *PROBE, "-rtsp_transport", transport,
                            "-timeout", "10000000", "-select_streams", "v:0",
                            "-read_intervals", f"%+#{n}", "-show_entries",
                            "frame=key_frame,pict_type", "-of", "json", url]), timeout=timeout)
    return json.loads(out.stdout)["frames"][:n]


class _Viewer:
    """A viewer process whose decoded-frame count is read while it runs."""
    kind = "viewer"

    def __init__(self, argv, netns, log_dir, name):
        self.proc = Proc(name or self.kind, in_ns(netns, argv), log_dir)

    @property
    def frames(self):
        raise NotImplementedError

    def wait_frames(self, n, timeout=30):
        wait_for(lambda: self.frames >= n or self.proc.p.poll() is not None, timeout,
                 f"{self.proc.name} to decode {n} frames (has {self.frames})")
        if self.frames < n:
            raise AssertionError(f"{self.proc.name} exited (rc {self.proc.p.returncode}) after "
                                 f"{self.frames} frames:\n" + "\n".join(self.proc.lines[-20:]))
        return self.frames

    def wait(self, timeout=60):
        """Wait for the viewer to finish on its own (its frame or time bound)."""
        try:
            self.proc.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.stop()
            raise AssertionError(f"{self.proc.name} still running after {timeout}s")
        return self.result()

    def stop(self):
        """Ask it to quit (ffmpeg sends TEARDOWN on SIGTERM), return the result."""
        self.proc.stop(signal.SIGTERM)
        return self.result()

    def result(self):
        self.proc.t.join(5)
        return ViewResult(self.frames, self.proc.p.returncode, self.errors())

    def errors(self):
        return []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stop()


class FfmpegViewer(_Viewer):
    """ffmpeg pulling `url` over TCP or UDP and decoding video to null,
    bounded by `frames` and/or `seconds`."""
    kind = "ffmpeg"
    _frame = re.compile(r"^frame=(\d+)$")

    def __init__(self, url, transport="tcp", frames=None, seconds=None, netns=None,
                 log_dir=None, name=None, extra=()):
        argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *PROBE,
                "-rtsp_transport", transport, "-timeout", "10000000", "-i", url,
                "-map", "0:v:0", "-stats_period", "0.2", "-progress", "pipe:1"] + list(extra)
        if frames:
            argv += ["-frames:v", str(frames)]
        if seconds:
            argv += ["-t", str(seconds)]
        super().__init__(argv + ["-f", "null", "-"], netns, log_dir, name)

    @property
    def frames(self):
        with self.proc.cv:
            for l in reversed(self.proc.lines):
                m = self._frame.match(l)
                if m:
                    return int(m.group(1))
        return 0

    # The null muxer's complaint when ffmpeg re-bases RTP timestamps on the
    # first RTCP sender report after joining a running stream: about
    # timestamps, not decoding, so not an error here.
    _benign = re.compile(r"^[a-z_0-9]+=|non monotonically increasing dts to muxer")

    def errors(self):
        with self.proc.cv:
            return [l for l in self.proc.lines if l.strip() and not self._benign.search(l)]


class GstViewer(_Viewer):
    """gst-launch-1.0 rtspsrc ! rtph264depay ! h264parse ! avdec_h264 !
    fakesink: every decoded frame is one last-message line under -v."""
    kind = "gst"

    def __init__(self, url, transport="tcp", frames=50, netns=None, log_dir=None, name=None,
                 user=None, password=None):
        src = ["rtspsrc", f"location={url}", f"protocols={transport}", "latency=200"]
        if user is not None:
            src += [f"user-id={user}", f"user-pw={password}"]
        argv = ["gst-launch-1.0", "-v"] + src + [
            "!", "rtph264depay", "!", "h264parse", "!", "avdec_h264", "!",
            "fakesink", "name=sink", "silent=false", "sync=false", f"num-buffers={frames}"]
        super().__init__(argv, netns, log_dir, name)

    @property
    def frames(self):
        return self.proc.count(r"GstFakeSink:sink: last-message = chain")

    def stop(self):
        """SIGINT: gst-launch stops the pipeline, rtspsrc sends TEARDOWN."""
        self.proc.stop(signal.SIGINT)
        return self.result()

    def errors(self):
        with self.proc.cv:
            return [l for l in self.proc.lines if l.startswith(("ERROR", "WARNING"))]


def ffmpeg_view(url, transport="tcp", frames=30, netns=None, timeout=60):
    """Decode `frames` video frames and return the ViewResult."""
    return FfmpegViewer(url, transport, frames=frames, netns=netns).wait(timeout)


def gst_view(url, transport="tcp", frames=30, netns=None, timeout=60, **kw):
    return GstViewer(url, transport, frames=frames, netns=netns, **kw).wait(timeout)


# ---- a raw RTSP client (stalled viewers, status codes) ----------------------

CLONE_NEWNET = 0x40000000


def connect(host, port, netns=None, timeout=10, rcvbuf=None):
    """A TCP connection made from inside `netns` (setns in a helper thread:
    a socket stays in the namespace it was created in)."""
    def make():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect((host, port))
        return s
    if not netns:
        return make()
    box = {}

    def run():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET):
                    raise OSError(ctypes.get_errno(), f"setns {netns}")
            finally:
                os.close(fd)
            box["s"] = make()
        except Exception as e:  # handed to the caller's thread
            box["e"] = e
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["s"]


class RtspError(Exception):
    def __init__(self, status, reason):
        super().__init__(f"RTSP {status} {reason}")
        self.status = status


class RtspClient:
    """RTSP 1.0 over one TCP connection, interleaved transport only, with
    Basic and Digest auth. Enough to be a viewer that stops reading."""

    def __init__(self, url, netns=None, rcvbuf=None, timeout=10):
        u = urllib.parse.urlsplit(url)
        self.user = urllib.parse.unquote(u.username) if u.username else None
        self.password = urllib.parse.unquote(u.password or "")
        self.url = f"rtsp://{u.hostname}:{u.port or 554}{u.path or '/'}"
        self.sock = connect(u.hostname, u.port or 554, netns, timeout, rcvbuf)
        self.buf = b""
        self.cseq = 0
        self.session = None
        self.auth = None          # header value generator once challenged
        self.frames = {}          # interleaved channel -> count of frames read

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self):
        b = self.sock.recv(65536)
        if not b:
            raise ConnectionError("camera closed the connection")
        self.buf += b

    def _skip_interleaved(self):
        """Consume '$' frames at the head of the buffer; False if incomplete."""
        while self.buf[:1] == b"$":
            if len(self.buf) < 4:
                return False
            ch, n = self.buf[1], struct.unpack("!H", self.buf[2:4])[0]
            if len(self.buf) < 4 + n:
                return False
            self.frames[ch] = self.frames.get(ch, 0) + 1
            self.buf = self.buf[4 + n:]
        return True

    def _response(self):
        while True:
            if self._skip_interleaved() and b"\r\n\r\n" in self.buf:
                break
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        n = int(hdrs.get("content-length", ["0"])[0])
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, reason, hdrs, body.decode("utf-8", "replace")

    def _challenge(self, hdrs):
        offers = hdrs.get("www-authenticate", [])
        digest = next((o for o in offers if o.lower().startswith("digest")), None)
        if digest:
            p = dict(re.findall(r'(\w+)="?([^",]*)"?', digest[len("digest"):]))
            realm, nonce, qop = p.get("realm", ""), p.get("nonce", ""), p.get("qop")
            user, pw = self.user, self.password

            def header(method, uri):
                md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
                ha1, ha2 = md5(f"{user}:{realm}:{pw}"), md5(f"{method}:{uri}")
                h = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}"'
                if qop and "auth" in qop.split(","):
                    cnonce = os.urandom(8).hex()
                    resp = md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
                    return h + f', qop=auth, nc=00000001, cnonce="{cnonce}", response="{resp}"'
                return h + f', response="{md5(f"{ha1}:{nonce}:{ha2}")}"'
            return header
        if any(o.lower().startswith("basic") for o in offers):
            v = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return lambda method, uri: v
        return None

    def request(self, method, url=None, headers=None, check=True):
        """Send one request (answering one auth challenge when the URL had
        credentials); returns (status, headers, body); raises RtspError on
        a non-2xx status when check."""
        url = url or self.url
        for attempt in (0, 1):
            self.cseq += 1
            h = {"CSeq": str(self.cseq), "User-Agent": "sp-test-rtsp"}
            if self.session:
                h["Session"] = self.session
            if self.auth:
                h["Authorization"] = self.auth(method, url)
            h.update(headers or {})
            msg = f"{method} {url} RTSP/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
            self.sock.sendall((msg + "\r\n").encode())
            status, reason, hdrs, body = self._response()
            if status == 401 and attempt == 0 and self.user is not None and not self.auth:
                self.auth = self._challenge(hdrs)
                if self.auth:
                    continue
            break
        if check and not 200 <= status < 300:
            raise RtspError(status, reason)
        return status, hdrs, body

    def play(self, video_only=False):
        """DESCRIBE, SETUP of every stream (or the first video one) over TCP
        interleaved (channels 0-1, 2-3, ...), PLAY. Set up every stream to
        pull a gst-rtsp-server camera: while a client of a shared mount
        plays only some of its streams, gst-rtsp-server answers 503 to
        everyone else's DESCRIBE."""
        _, hdrs, sdp = self.request("DESCRIBE", headers={"Accept": "application/sdp"})
        base = hdrs.get("content-base", [self.url])[0]
        tracks = []
        for m in re.split(r"\r?\nm=", sdp)[1:]:
            if video_only and not m.startswith("video"):
                continue
            c = re.search(r"^a=control:(\S+)", m, re.M)
            control = c.group(1) if c else "*"
            if control.startswith("rtsp://"):
                tracks.append(control)
            elif control == "*":
                tracks.append(base)
            else:
                tracks.append(base.rstrip("/") + "/" + control)
            if video_only:
                break
        if not tracks:
            raise AssertionError(f"no {'video ' if video_only else ''}stream in SDP:\n{sdp}")
        for i, track in enumerate(tracks):
            _, hdrs, _ = self.request("SETUP", track, {
                "Transport": f"RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}"})
            self.session = hdrs["session"][0].split(";")[0]
        self.request("PLAY", base, {"Range": "npt=0.000-"})
        return self

    def read_frames(self, n, channel=0, timeout=20):
        """Read until `n` interleaved frames arrived on `channel`."""
        deadline = time.monotonic() + timeout
        while self.frames.get(channel, 0) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.frames.get(channel, 0)} of {n} frames")
            if not self._skip_interleaved() or not self.buf:
                self._fill()
            elif self.buf[:1] != b"$":
                self._response()     # a request from the server, or a late reply
        return self.frames[channel]

    def queued(self):
        """Bytes waiting unread in the kernel receive queue (a stalled
        viewer's backlog)."""
        buf = fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        return struct.unpack("i", buf)[0]


def rtsp_status(url, method="DESCRIBE", netns=None):
    """The status code a DESCRIBE (with the URL's credentials, if any) gets."""
    with RtspClient(url, netns) as c:
        return c.request(method, headers={"Accept": "application/sdp"}, check=False)[0]


def stalled_viewer(url, netns=None, frames=5, rcvbuf=4096):
    """An RTSP viewer that SETUPs/PLAYs interleaved, reads `frames` RTP
    packets of the first stream (video on our cameras), then never reads again (small receive buffer: the sender sees
    it stall quickly). Close it when done."""
    c = RtspClient(url, netns, rcvbuf=rcvbuf)
    c.play()
    c.read_frames(frames)
    return c


# ---- network namespaces -----------------------------------------------------

class Netns:
    """A network namespace joined to the host by a veth pair (/30): the host
    end has host_ip, the namespace end ns_ip; lo is up inside."""

    def __init__(self, name, subnet):
        self.name = name
        self.host_if, self.ns_if = f"{name}h"[:15], f"{name}n"[:15]
        self.host_ip, self.ns_ip = f"{subnet}.1", f"{subnet}.2"

    def __enter__(self):
        sh("ip", "netns", "add", self.name)
        try:
            sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            sh("ip", "link", "set", self.ns_if, "netns", self.name)
            sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            sh("ip", "link", "set", self.host_if, "up")
            sh(*in_ns(self.name, ["ip", "link", "set", "lo", "up"]))
            sh(*in_ns(self.name, ["ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if]))
            sh(*in_ns(self.name, ["ip", "link", "set", self.ns_if, "up"]))
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        sh("ip", "netns", "del", self.name, check=False)
        sh("ip", "link", "del", self.host_if, check=False)  # usually gone with the namespace


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "snapshot":
        _serve_snapshot(sys.argv[2], int(sys.argv[3]), sys.argv[4], *sys.argv[5:7])
    else:
        sys.exit("usage: camera.py snapshot ADDRESS PORT JPEG [USER PASSWORD]")
