"""Subscribers that fail are removed without slowing the others (issue 3):
no RTCP for rtcp_timeout_ms, or sends the kernel refuses past
send_error_limit. spcp is told with an event and forgets them."""
import os
import socket
import struct
import subprocess
import time

import pytest

from sp_procs import Streampoint
from test_fanout import drain, seqs, udp


def rtp(seq, ssrc=0x4242):
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, ssrc) + bytes([0x41, 0x9A]) + bytes(300)


def rr(ssrc=0x77, media=0x4242):
    """A receiver report with one report block."""
    return struct.pack("!BBHI", 0x81, 201, 7, ssrc) + struct.pack("!IIIIII", media, 0, 0, 0, 0, 0)


def flow_with_subs(sp, fid, n):
    cam = udp()
    sp.call(f"/flow/add,id={fid}&source=127.0.0.1:{cam.getsockname()[1]}&rtcp_mux=1")
    subs = [udp() for _ in range(n)]
    for k, s in enumerate(subs):
        sp.call(f"/sub/add,flow={fid}&id={k + 1}&rtp=127.0.0.1:{s.getsockname()[1]}&rtcp_mux=1")
    sp.wait(lambda: sp.call(f"/flow,id={fid}")["state"] == "active" and
            all(x["state"] == "active" for x in sp.call(f"/flow,id={fid}")["subs"]) and
            len(sp.call(f"/flow,id={fid}")["subs"]) == n, 10, "flow active")
    return cam, subs, sp.call(f"/flow,id={fid}")["rtp_port"]


def test_silent_subscriber_removed_talking_one_kept():
    """Steps: rtcp_timeout_ms=1500; of two subscribers, one sends receiver
    reports every 300 ms, the other never does.
    Verify: the silent one is removed (spcp forgets it, counts it), the
    talking one stays and still receives media."""
    with Streampoint(workers=1, port_base=37000,
                     spdp_opts=["-o", "flows.rtcp_timeout_ms=1500"]) as sp:
        cam, (talker, silent), port = flow_with_subs(sp, 1, 2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            talker.sendto(rr(), ("127.0.0.1", port))
            subs = [x["sub"] for x in sp.call("/flow,id=1")["subs"]]
            if subs == [1]:
                break
            time.sleep(0.3)
        assert [x["sub"] for x in sp.call("/flow,id=1")["subs"]] == [1]
        assert sp.call("/flows")["subs_removed_by_spdp"] == 1
        drain([talker, silent], quiet=0.2)
        for seq in range(10):
            cam.sendto(rtp(seq), ("127.0.0.1", port))
        got = drain([talker, silent], quiet=0.5)
        assert seqs(got[talker]) == list(range(10))
        assert got[silent] == []


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace")
    name = f"spit{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_unreachable_subscriber_removed_others_unaffected(netns):
    """Steps: in a namespace with only loopback, a flow has two local
    subscribers and one at an address with no route (sends fail locally with
    ENETUNREACH; nothing leaves the namespace). The camera sends 300 packets
    over 2.4 s.
    Verify: the unreachable subscriber is removed for send errors; both local
    subscribers receive all 300 packets in order."""
    def in_ns(code):
        return subprocess.run(["ip", "netns", "exec", netns, "/usr/bin/python3", "-c", code],
                              capture_output=True, text=True, timeout=60)
    with Streampoint(workers=1, port_base=38000, netns=netns,
                     spdp_opts=["-o", "flows.rtcp_timeout_ms=0",
                                "-o", "flows.send_error_limit=20"]) as sp:
        sp.call = lambda req, _c=sp.call: _ns_call(netns, sp.dir, req)
        # Sockets must live in the namespace too: run the traffic there.
        script = f'''
import json, os, socket, struct, sys, time
sys.path.insert(0, {os.path.dirname(__file__)!r})
from test_fanout import drain, seqs, udp
ctl = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
ctl.connect({sp.dir!r} + "/default/spcp.sock")
mx = json.loads(ctl.recv(1024))["max_output_len"]
def call(r):
    ctl.send(r.encode()); return json.loads(ctl.recv(mx))[r.split(",")[0]]
cam = udp(); a = udp(); b = udp()
call(f"/flow/add,id=1&source=127.0.0.1:{{cam.getsockname()[1]}}&rtcp_mux=1")
call(f"/sub/add,flow=1&id=1&rtp=127.0.0.1:{{a.getsockname()[1]}}&rtcp_mux=1")
call("/sub/add,flow=1&id=2&rtp=10.255.255.1:5000&rtcp_mux=1")
call(f"/sub/add,flow=1&id=3&rtp=127.0.0.1:{{b.getsockname()[1]}}&rtcp_mux=1")
for _ in range(100):
    f = call("/flow,id=1")
    if f["state"] == "active" and len(f["subs"]) == 3 and all(s["state"] == "active" for s in f["subs"]):
        break
    time.sleep(0.05)
port = f["rtp_port"]
for seq in range(300):
    cam.sendto(struct.pack("!BBHII", 0x80, 96, seq, 0, 0x4242) + bytes(200), ("127.0.0.1", port))
    time.sleep(0.008)  # 2.4 s: longer than the 1 s pause at half the error limit
got = drain([a, b], quiet=0.5)
for _ in range(100):
    subs = [s["sub"] for s in call("/flow,id=1")["subs"]]
    if 2 not in subs:
        break
    time.sleep(0.1)
print(json.dumps({{"a": seqs(got[a]), "b": seqs(got[b]), "subs": sorted(subs),
                  "removed": call("/flows")["subs_removed_by_spdp"],
                  "tx_error": call("/status")["spdp"]["drops"]["tx_error"]}}))
'''
        out = in_ns(script)
        assert out.returncode == 0, out.stderr
        import json
        r = json.loads(out.stdout.strip().splitlines()[-1])
        assert r["a"] == list(range(300)) and r["b"] == list(range(300))
        assert r["subs"] == [1, 3]
        assert r["removed"] == 1
        assert r["tx_error"] >= 20


def _ns_call(netns, run_dir, req):
    """spcp's control socket is a unix socket: reachable from any namespace."""
    import json
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(os.path.join(run_dir, "default", "spcp.sock"))
    mx = json.loads(s.recv(1024))["max_output_len"]
    s.send(req.encode())
    r = json.loads(s.recv(mx))[req.split(",")[0]]
    s.close()
    return r
