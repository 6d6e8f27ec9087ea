"""The real spagent through the real spdp tunnel (issue 6), end to end.

Topology: two streampoints on the host, each a real spdp + spcp pair (its
own streampoint id, tunnel port, media ports, runtime directory); the first
spcp runs the agent endpoint and lists both (`endpoint.streampoint`), the
second has no endpoint. A camera network namespace "cam-<pid>"
joined to the host by a veth pair. In cam: an HTTP service listening only
on cam's loopback (so nothing outside cam can reach it; the agent is the
only way in) serving a 50 MiB random file, and spagent allowed to reach it.
spcp's endpoint and spdp's tunnel listener are on the host end of the veth,
with a certificate signed by a CA the test makes; spcp and spdp read the
same token keyring file.

Steps: the agent authenticates, gets a token, its tunnel comes up at spdp
(`spctl tunnels`); `spctl tunnel open` gives a local port; the file fetched
through it has the right sha256 (time compared with a direct fetch inside
cam, printed, not asserted); the agent's link goes down until it gives up
its connections, comes back, and the agent reconnects (control + tunnel)
and a new fetch works; a wrong device key is refused at the endpoint
(counted, no tunnel); an expired token is refused by spdp with 401
(counted).

Between the two real spdps: the tunnel is where the rendezvous hash puts
it; `agent switch` moves it to the other (up there, gone here, a 50 MiB
fetch through it) and `streampoint down` moves it back. spcp restarted
while the tunnel stays up: the new spcp learns the tunnel and the forward
from spdp (tunnel dump), `tunnel open` works. The spdp holding the tunnel
is SIGKILLed: the agent's attempts there fail, it reports the streampoint
unreachable (UNREACHABLE) and the endpoint SWITCHes it to the live one.

Needs root (network namespaces); skipped otherwise.
Ports: 41000-41999 (+ SP_TEST_PORT_OFFSET)."""
import hashlib
import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from camnet import CamNet, agent_argv, sh  # noqa: E402
from pki import derive, make_pki, write  # noqa: E402
from sp_procs import BUILD, SANITIZER, Streampoint  # noqa: E402
from test_agent import Proc  # noqa: E402
import tun_agent  # noqa: E402

OFF = int(os.environ.get("SP_TEST_PORT_OFFSET", "0"))
TUN = 41001 + OFF
EP = 41002 + OFF
HTTP = 41003 + OFF          # inside cam only
TUN2 = 41004 + OFF
MEDIA = 41100 + OFF         # 400 ports each
MEDIA2 = 41500 + OFF
SP_ID = "sp-e2e"
SERVER_ID = "ep-e2e"
BIG = 50 << 20
PID = os.getpid()
NET = CamNet("cam", 213)
CAM, VC, HOST_IP, CAM_IP = NET.ns, NET.vc, NET.host_ip, NET.cam_ip

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")


in_cam = NET.exec


def rendezvous(device, sp):
    """ep_rendezvous (controlplane/endpoint.c): FNV-1a over device NUL sp, then mix64."""
    m = (1 << 64) - 1
    h = 0xcbf29ce484222325
    for b in device.encode() + b"\0" + sp.encode():
        h = ((h ^ b) * 0x100000001b3) & m
    h = ((h ^ (h >> 30)) * 0xbf58476d1ce4e5b9) & m
    h = ((h ^ (h >> 27)) * 0x94d049bb133111eb) & m
    return h ^ (h >> 31)


# The second streampoint's id: the first one cam-1 ranks below SP_ID, so
# cam-1's home is SP_ID and the tests above need not know about SP2.
SP2 = next(f"sp-e2e-{c}" for c in "bcdefghijk"
           if rendezvous("cam-1", f"sp-e2e-{c}") < rendezvous("cam-1", SP_ID))


FETCH = ("import hashlib,sys,time,urllib.request\n"
         "t=time.monotonic();h=hashlib.sha256();n=0\n"
         "with urllib.request.urlopen(sys.argv[1],timeout=120) as r:\n"
         " while True:\n"
         "  b=r.read(1<<20)\n"
         "  if not b: break\n"
         "  h.update(b);n+=len(b)\n"
         "print(h.hexdigest(),n,time.monotonic()-t)\n")


def fetch(url, netns=None):
    """(sha256, bytes, seconds) of one GET, by a separate python3 process
    so the direct and the tunneled fetch cost the same on the client side."""
    argv = ["/usr/bin/python3", "-c", FETCH, url]
    out = sh(*(in_cam(*argv) if netns else argv), timeout=300)
    h, n, t = out.stdout.split()
    return h, int(n), float(t)


class E2E:
    def __init__(self, d):
        self.dir = d
        self.procs = []

    def spawn(self, name, argv):
        p = Proc(name, argv, self.dir)
        self.procs.append(p)
        return p

    def agent(self, device, key):
        kf = write(self.dir, f"{device}.key", key.hex() + "\n")
        return self.spawn(f"agent-{device}", in_cam(*agent_argv(
            BUILD, device, kf, self.ca, SERVER_ID, f"{HOST_IP}:{EP}", f"127.0.0.1:{HTTP}",
            "-o", "agent.connect_timeout_ms=3000")))


def tunnels(sp):
    return {t["device"]: t for t in sp.spctl("tunnels")["tunnels"]}


def counters(sp):
    return sp.spctl("status")["spdp"]["drops"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("e2e"))
    e = E2E(d)
    e.ca, crt, key = make_pki(d, [HOST_IP, "127.0.0.1"])
    e.token_key = os.urandom(32)
    e.master = os.urandom(32)
    # one keyring for both daemons, with a retired key to show rotation
    keyring = write(d, "token.keys", f"# streampoint token keys\nold {os.urandom(32).hex()}\n"
                    f"k2 {e.token_key.hex()} current\n")
    master = write(d, "master.hex", e.master.hex() + "\n")
    www = os.path.join(d, "www")
    os.mkdir(www)
    data = os.urandom(BIG)
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(data)
    e.sha = hashlib.sha256(data).hexdigest()
    del data

    NET.up()
    try:
        e.http = e.spawn("http", in_cam("/usr/bin/python3", "-u", "-m", "http.server", str(HTTP),
                                        "--bind", "127.0.0.1", "--directory", www))
        Streampoint.wait(lambda: sh(*in_cam("curl", "-s", "-o", "/dev/null", "-r", "0-0",
                                            f"http://127.0.0.1:{HTTP}/big.bin"),
                                    check=False).returncode == 0, 20, "http.server in cam")
        def dp(sp_id, port):
            return ["-o", f"tunnel.listen=127.0.0.1:{port},{HOST_IP}:{port}",
                    "-o", f"tunnel.tls_cert={crt}", "-o", f"tunnel.tls_key={key}",
                    "-o", f"tunnel.token_key_file={keyring}",
                    "-o", f"tunnel.streampoint_id={sp_id}", "-o", "tunnel.heartbeat_ms=1000"]
        cp = ["-o", "endpoint.enable=true", "-o", f"endpoint.listen={HOST_IP}:{EP}",
              "-o", f"endpoint.tls_cert={crt}", "-o", f"endpoint.tls_key={key}",
              "-o", f"endpoint.server_id={SERVER_ID}", "-o", f"endpoint.master_key_file={master}",
              "-o", f"endpoint.token_key_file={keyring}", "-o", "endpoint.heartbeat_s=1",
              "-o", f"endpoint.streampoint={SP_ID}@{HOST_IP}:{TUN},{SP2}@{HOST_IP}:{TUN2}"]
        sp = Streampoint(workers=2, port_base=MEDIA, spdp_opts=dp(SP_ID, TUN), spcp_opts=cp)
        sp.spdp_opts += ["-o", f"media.port_max={MEDIA + 399}"]
        sp2 = Streampoint(workers=2, port_base=MEDIA2, spdp_opts=dp(SP2, TUN2))
        sp2.spdp_opts += ["-o", f"media.port_max={MEDIA2 + 399}"]
        with sp, sp2:
            e.sp, e.sp2 = sp, sp2
            yield e
            for p in reversed(e.procs):
                p.stop()
    finally:
        for p in reversed(e.procs):
            p.stop()
        NET.down()
    bad = [f"{p.name}: {l}" for p in e.procs for _, l in p.lines if SANITIZER.search(l)]
    assert not bad, "\n".join(bad[:20])


@pytest.fixture(scope="module")
def cam1(env):
    a = env.agent("cam-1", derive(env.master, "cam-1"))
    a.wait_line(r"control: authenticated", 30)
    a.wait_line(r"tunnel .*: up", 30)
    env.sp.wait(lambda: "cam-1" in tunnels(env.sp), 20, "cam-1 in spctl tunnels")
    return a


def test_service_only_reachable_inside_cam(env):
    """The camera's service is not reachable from the host."""
    out = sh("curl", "-s", "-m", "3", "-o", "/dev/null", f"http://{CAM_IP}:{HTTP}/big.bin",
             check=False)
    assert out.returncode != 0


def test_fetch_through_agent_and_tunnel(env, cam1):
    sp = env.sp
    assert sp.spctl("agents")["agents"][0]["device"] == "cam-1"
    fw = sp.spctl("tunnel", "open", "cam-1", str(HTTP), "--idle-ms", "60000")
    assert fw["state"] == "listening", fw
    h, n, t_tun = fetch(f"http://127.0.0.1:{fw['port']}/big.bin")
    assert (h, n) == (env.sha, BIG)
    h, n, t_dir = fetch(f"http://127.0.0.1:{HTTP}/big.bin", netns=CAM)
    assert (h, n) == (env.sha, BIG)
    print(f"\n50 MiB: direct in cam {t_dir:.2f} s ({BIG / t_dir / 1e6:.0f} MB/s); through "
          f"spagent+spdp {t_tun:.2f} s ({BIG / t_tun / 1e6:.0f} MB/s); ratio {t_tun / t_dir:.2f}")
    env.fw_port = fw["port"]


def test_agent_survives_network_loss(env, cam1):
    sp = env.sp
    old = tunnels(sp)["cam-1"]["tunnel"]
    auths = cam1.count(r"control: authenticated")
    ups = cam1.count(r"tunnel .*: up")
    start = len(cam1.lines)
    sh(*in_cam("ip", "link", "set", VC, "down"))
    try:
        # heartbeats (1 s, dead after 3) make both ends give the connections up
        cam1.wait_line(r"tunnel .*: (closed|went silent)", 30, start)
        cam1.wait_line(r"control: .*(closed|went silent)", 30, start)
        sp.wait(lambda: "cam-1" not in tunnels(sp), 30, "spdp dropped the dead tunnel")
    finally:
        sh(*in_cam("ip", "link", "set", VC, "up"))
    sp.wait(lambda: cam1.count(r"control: authenticated") > auths, 60, "agent authenticated again")
    sp.wait(lambda: cam1.count(r"tunnel .*: up") > ups, 60, "tunnel up again")
    sp.wait(lambda: "cam-1" in tunnels(sp), 30, "cam-1 back in spctl tunnels")
    assert tunnels(sp)["cam-1"]["tunnel"] != old
    fw = sp.spctl("tunnel", "open", "cam-1", str(HTTP), "--idle-ms", "60000")
    h, n, _ = fetch(f"http://127.0.0.1:{fw['port']}/big.bin")
    assert (h, n) == (env.sha, BIG)


def test_wrong_device_key_refused(env, cam1):
    sp = env.sp
    before = sp.spctl("agents")["refused"]["agent_refused"]
    bad = env.agent("cam-2", os.urandom(32))
    try:
        sp.wait(lambda: sp.spctl("agents")["refused"]["agent_refused"] > before, 30,
                "bad proof counted")
    finally:
        bad.stop()
    assert bad.count(r"control: authenticated") == 0
    assert "cam-2" not in tunnels(sp)
    assert all(a["device"] != "cam-2" for a in sp.spctl("agents")["agents"])


def test_expired_token_refused_by_spdp(env):
    sp = env.sp
    before = counters(sp)
    now = int(time.time())
    tok = tun_agent.token(env.token_key, "k2", "cam-1", SP_ID, iat=now - 7200, ttl=600)
    s = tun_agent.connect_tls(TUN, env.ca)
    status, _ = tun_agent.upgrade(s, tok)
    assert status == 401
    assert s.recv(10) == b""
    s.close()
    # the same token, in date, is accepted: the refusal was the expiry alone
    s = tun_agent.connect_tls(TUN, env.ca)
    status, _ = tun_agent.upgrade(s, tun_agent.token(env.token_key, "k2", "cam-9", SP_ID))
    assert status == 101
    s.close()
    after = counters(sp)
    assert after["tun_token_expired"] == before["tun_token_expired"] + 1


def where(env, device="cam-1"):
    """The streampoint the endpoint has device on."""
    return next(a["streampoint"] for a in env.sp.spctl("agents")["agents"] if a["device"] == device)


def fetch_via(env, sp, device="cam-1"):
    """A forward on sp's spdp to the camera's HTTP service; the 50 MiB file through it."""
    fw = sp.spctl("tunnel", "open", device, str(HTTP), "--idle-ms", "60000")
    assert fw["state"] == "listening", fw
    h, n, _ = fetch(f"http://127.0.0.1:{fw['port']}/big.bin")
    assert (h, n) == (env.sha, BIG)
    return fw


def test_switch_between_two_real_spdps(env, cam1):
    """Steps: the tunnel at the hash's pick; agent switch to the other spdp;
    streampoint down of that one. Verify: each time the tunnel is up at the
    new spdp (its spctl tunnels), gone from the old one, and 50 MiB arrive
    intact through it."""
    sp, sp2 = env.sp, env.sp2
    assert where(env) == SP_ID
    sp.wait(lambda: "cam-1" in tunnels(sp), 30, "cam-1's tunnel at its assigned spdp")
    assert "cam-1" not in tunnels(sp2)
    fetch_via(env, sp)

    assert sp.spctl("agent", "switch", "cam-1", SP2)["streampoint"] == SP2
    sp.wait(lambda: "cam-1" in tunnels(sp2), 30, "cam-1's tunnel up at the second spdp")
    sp.wait(lambda: "cam-1" not in tunnels(sp), 30, "cam-1's tunnel gone from the first spdp")
    assert where(env) == SP2
    fetch_via(env, sp2)

    r = sp.spctl("streampoint", "down", SP2)
    try:
        assert r["moved"] == 1, r
        sp.wait(lambda: "cam-1" in tunnels(sp), 30, "cam-1's tunnel back at the first spdp")
        sp.wait(lambda: "cam-1" not in tunnels(sp2), 30, "cam-1's tunnel gone from the second")
        assert where(env) == SP_ID
        fetch_via(env, sp)
    finally:
        sp.spctl("streampoint", "up", SP2)


def test_spcp_restart_keeps_tunnels(env, cam1):
    """Steps: a forward through cam-1's tunnel; SIGKILL spcp (the endpoint's
    too) and start it again. Verify: the tunnel never dropped (same id, no
    new `tunnel up` at the agent); the new spcp lists it and the old forward
    (learnt from spdp's tunnel dump); a new `tunnel open` gets another id and
    both forwards carry the file intact; the agent re-authenticated by
    itself and stays where it was."""
    sp = env.sp
    sp.wait(lambda: "cam-1" in tunnels(sp), 30, "cam-1's tunnel at the first spdp")
    before = tunnels(sp)["cam-1"]
    fw = sp.spctl("tunnel", "open", "cam-1", str(HTTP), "--idle-ms", "120000")
    assert fw["state"] == "listening", fw
    ups = cam1.count(r"tunnel .*: up")
    auths = cam1.count(r"control: authenticated")

    sp.procs["spcp"].send_signal(signal.SIGKILL)
    sp.procs["spcp"].wait(10)
    sp.start("spcp")
    sp.wait(lambda: sp.status_rc() == 0, 30, "the new spcp attached to spdp")
    sp.wait(lambda: sp.spctl("tunnels")["restore"]["workers_pending"] == 0, 30, "tunnel dump done")
    t = sp.spctl("tunnels")
    cam = {x["device"]: x for x in t["tunnels"]}["cam-1"]
    assert cam["tunnel"] == before["tunnel"] and cam.get("restored"), cam
    old = [f for f in t["forwards"] if f["id"] == fw["id"]]
    assert old and old[0]["state"] == "listening" and old[0]["port"] == fw["port"], t["forwards"]

    new = fetch_via(env, sp)
    assert new["id"] != fw["id"]
    h, n, _ = fetch(f"http://127.0.0.1:{fw['port']}/big.bin")
    assert (h, n) == (env.sha, BIG)
    assert cam1.count(r"tunnel .*: up") == ups
    sp.wait(lambda: cam1.count(r"control: authenticated") > auths, 60, "agent back at the endpoint")
    sp.wait(lambda: any(a["device"] == "cam-1" for a in sp.spctl("agents")["agents"]), 30,
            "cam-1 in spctl agents")
    assert where(env) == SP_ID
    assert tunnels(sp)["cam-1"]["tunnel"] == before["tunnel"]


def test_killed_spdp_agent_moves_to_the_live_one(env, cam1):
    """Steps: SIGKILL the spdp holding cam-1's tunnel; later start it again.
    Verify: the agent's attempts there fail, it reports the streampoint
    unreachable, the endpoint (counted) SWITCHes it to the other spdp, where
    the tunnel comes up and 50 MiB arrive intact; the restarted spdp's spcp
    no longer lists the dead spdp's tunnel."""
    sp, sp2 = env.sp, env.sp2
    assert where(env) == SP_ID
    sp.wait(lambda: "cam-1" in tunnels(sp), 30, "cam-1's tunnel at the first spdp")
    reports = sp.spctl("agents")["unreachable"]["reports"]
    start = len(cam1.lines)
    sp.procs["spdp"].send_signal(signal.SIGKILL)
    sp.procs["spdp"].wait(10)
    try:
        cam1.wait_line(r"tunnel .*: (connection lost|went silent)", 30, start)
        cam1.wait_line(r"unreachable after \d+ attempts", 60, start)
        sp.wait(lambda: "cam-1" in tunnels(sp2), 60, "cam-1's tunnel up at the live spdp")
        a = sp.spctl("agents")
        assert a["unreachable"]["reports"] > reports, a["unreachable"]
        assert {s["id"]: s for s in a["streampoints"]}[SP_ID]["reported_unreachable"] >= 1
        assert where(env) == SP2
        fetch_via(env, sp2)
    finally:
        sp.start("spdp")
        sp.wait(lambda: sp.status_rc() == 0, 30, "spcp attached to the restarted spdp")
    sp.wait(lambda: sp.spctl("tunnels")["restore"]["workers_pending"] == 0, 30, "tunnel dump done")
    assert "cam-1" not in tunnels(sp)
    assert "cam-1" in tunnels(sp2)
