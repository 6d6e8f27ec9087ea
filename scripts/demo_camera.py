#!/usr/bin/python3
"""The camera part of the demo: a camera behind NAT, watched through streampoint.

A network namespace plays the camera's LAN (no route in from outside). In
it: an RTSP camera (tests/camera/sp_camera, live H.264) listening on the
namespace's loopback only, and spagent, which connects out to spcp's agent
endpoint, authenticates, and opens its tunnel to spdp. spdp then pulls the
camera once over RTSP through that tunnel and fans it out: two ffmpeg
viewers decode it from UDP subscribers of the one flow, and the camera
reports one session.

    /usr/bin/python3 scripts/demo_camera.py [BUILD_DIR]   (root; ~20 s)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build", "release"))
os.environ["SP_BUILD_DIR"] = BUILD
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from camera import PROBE, Camera, Proc, _Viewer  # noqa: E402
from camnet import CamNet, agent_argv, endpoint_opts, tunnel_opts  # noqa: E402
from pki import derive, make_pki, write  # noqa: E402

NET = CamNet("spdemo", 216)
TUN, EP, CAM_PORT, VIEW, MEDIA = 41501, 41502, 554, 41510, 41600  # demo.sh's spdp has 40000-40999


def sh(*argv, check=True):
    out = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    if check and out.returncode:
        raise SystemExit(f"{' '.join(argv)}: {out.stderr.strip()}")
    return out


class Viewer(_Viewer):
    kind = "ffmpeg"

    def __init__(self, sdp, d, name):
        super().__init__(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *PROBE,
                          "-protocol_whitelist", "file,udp,rtp", "-i", sdp, "-map", "0:v:0",
                          "-stats_period", "0.5", "-progress", "pipe:1", "-f", "null", "-"],
                         None, d, name)

    @property
    def frames(self):
        for line in reversed(self.proc.lines):
            if line.startswith("frame="):
                return int(line[6:])
        return 0


def spctl(run, *args):
    out = sh(os.path.join(BUILD, "ctl", "spctl"), "-r", run, *args)
    return out.stdout


def show(title, text):
    print(f"== {title}")
    print("\n".join("   " + l for l in text.rstrip().splitlines()))


def main():
    if os.geteuid() != 0:
        print("(camera demo skipped: network namespaces need root)")
        return 0
    if not Camera.available():
        print("(camera demo skipped: sp_camera was not built; scripts/setup.sh installs its library)")
        return 0
    d = tempfile.mkdtemp(prefix="streampoint-camdemo.")
    run = os.path.join(d, "run")
    os.makedirs(run)
    procs, cam = [], None
    NET.up()
    host = NET.host_ip
    try:
        ca, crt, key = make_pki(d, [host])
        master = os.urandom(32)
        keyring = write(d, "token.keys", f"k1 {os.urandom(32).hex()} current\n")
        mfile = write(d, "master.hex", master.hex() + "\n")
        kf = write(d, "cam-1.key", derive(master, "cam-1").hex() + "\n")

        print(f"== camera: RTSP on 127.0.0.1:{CAM_PORT} inside namespace {NET.ns} (no route in)")
        cam = Camera(CAM_PORT, netns=NET.ns, size="640x360", fps=15, keyint=15, log_dir=d).start()
        procs.append(Proc("spdp", [os.path.join(BUILD, "dataplane", "spdp"), "-o", f"spdp.runtime_dir={run}",
                                   "-o", "spdp.workers=2", "-o", "media.address=127.0.0.1",
                                   "-o", f"media.port_min={MEDIA}", "-o", f"media.port_max={MEDIA + 199}",
                                   *tunnel_opts(f"{host}:{TUN}", crt, key, keyring, "sp-demo")], d))
        procs.append(Proc("spcp", [os.path.join(BUILD, "controlplane", "spcp"), "-o", f"spcp.runtime_dir={run}",
                                   *endpoint_opts(f"{host}:{EP}", crt, key, "ep-demo", mfile, keyring,
                                                  f"sp-demo@{host}:{TUN}")], d))
        for _ in range(100):
            if sh(os.path.join(BUILD, "ctl", "spctl"), "-r", run, "status", check=False).returncode == 0:
                break
            time.sleep(0.1)
        print("== spagent in the camera's namespace connects out (TLS, mutual HMAC, token, tunnel)")
        agent = Proc("spagent", NET.exec(*agent_argv(BUILD, "cam-1", kf, ca, "ep-demo", f"{host}:{EP}",
                                                     f"127.0.0.1:{CAM_PORT}")), d)
        procs.append(agent)
        agent.wait_line(r"tunnel .*: up", 30)
        for _ in range(100):
            if "cam-1" in spctl(run, "tunnels"):
                break
            time.sleep(0.1)
        for t in json.loads(spctl(run, "--json", "tunnels"))["tunnels"]:
            print(f"== spctl tunnels: device {t['device']} on spdp worker {t['worker']}, from {t.get('source', '?')}")

        spctl(run, "flow", "add", "id=1", "ingest=cam-1", "codec=h264")
        spctl(run, "rtsp", "pull", "id=1", "device=cam-1", f"url=rtsp://127.0.0.1:{CAM_PORT}/live", "flow=1")
        for _ in range(200):
            if '"playing"' in spctl(run, "--json", "rtsp"):
                break
            time.sleep(0.1)
        for p in json.loads(spctl(run, "--json", "rtsp"))["pulls"]:
            tr = ", ".join(f"{t['media']} {t['encoding']}/{t['clock']} -> flow {t['flow']}" for t in p["tracks"])
            print(f"== spctl rtsp: pull {p['id']} {p['url']} via {p['device']}: {p['state']} ({tr})")
            print("   (spdp pulls the camera once: RTSP, TCP interleaved, inside the agent's tunnel)")
        viewers = []
        for i in range(2):
            port = VIEW + 2 * i
            sdp = write(d, f"viewer{i}.sdp", "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=viewer\r\n"
                        "c=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                        f"m=video {port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n")
            viewers.append(Viewer(sdp, d, f"viewer{i}"))
            spctl(run, "sub", "add", "flow=1", f"id={i + 1}", f"rtp=127.0.0.1:{port}")
        print("== two ffmpeg viewers decoding for 6 s ...")
        time.sleep(6)
        for i, v in enumerate(viewers):
            print(f"   viewer{i}: {v.frames} frames decoded")
        st = cam.status()
        print(f"== the camera sees {st['mounts']['/live']['sessions']} RTSP session(s) and "
              f"{cam.established()} TCP connection(s) for {len(viewers)} viewers")
        show("spctl flow 1", spctl(run, "flow", "1"))
        for v in viewers:
            v.stop()
        ok = all(v.frames > 0 for v in viewers) and st["mounts"]["/live"]["sessions"] == 1
        return 0 if ok else 1
    finally:
        for p in reversed(procs):
            p.stop()
        if cam:
            cam.stop()
        NET.down()


if __name__ == "__main__":
    sys.exit(main())
