"""The shared ingest port (issue 3): cameras with known sources push to one
UDP port; spdp demultiplexes by source address/port and SSRC, and the kernel
steers each source to the worker that owns its flow (SO_REUSEPORT + BPF)."""
import struct
import time

import pytest

from sp_procs import Streampoint
from test_fanout import drain, seqs, udp

SHARED = 35004
CAMERAS = 40


def rtp(seq, ssrc, size=200):
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, ssrc) + bytes([0x41, 0x9A]) + bytes(size)


@pytest.fixture(scope="module")
def sp():
    with Streampoint(workers=2, port_base=36000,
                     spdp_opts=["-o", f"media.shared_port={SHARED}",
                                "-o", "flows.rtcp_timeout_ms=0"]) as s:
        yield s


def add_flow(sp, fid, src, ssrc=None):
    q = f"/flow/add,id={fid}&source=127.0.0.1:{src}&rtcp_mux=1"
    if ssrc is not None:
        q += f"&ssrc={ssrc}"
    r = sp.call(q)
    assert "error" not in r, r
    return r["worker"]


def add_sub(sp, fid, sid):
    s = udp()
    r = sp.call(f"/sub/add,flow={fid}&id={sid}&rtp=127.0.0.1:{s.getsockname()[1]}&rtcp_mux=1")
    assert "error" not in r, r
    return s


def active(sp, fid, nsubs):
    f = sp.call(f"/flow,id={fid}")
    return f["state"] == "active" and sum(s["state"] == "active" for s in f["subs"]) == nsubs


def test_cameras_on_one_port_reach_their_flows_on_every_worker(sp):
    """Steps: 40 cameras, each its own source port, push 30 packets to the
    shared port; 2 subscribers per flow.
    Verify: flows sit on both workers; every subscriber gets its camera's
    packets once, in order; nothing is dropped as unknown source."""
    cams, subs, workers = [], [], set()
    for c in range(CAMERAS):
        cam = udp()
        cams.append(cam)
        workers.add(add_flow(sp, c + 1, cam.getsockname()[1]))
        subs.append([add_sub(sp, c + 1, k + 1) for k in range(2)])
    assert workers == {0, 1}
    sp.wait(lambda: all(active(sp, c + 1, 2) for c in range(CAMERAS)), 20, "flows active")
    time.sleep(0.2)
    for seq in range(30):
        for c, cam in enumerate(cams):
            cam.sendto(rtp(seq, 0x7000 + c), ("127.0.0.1", SHARED))
        time.sleep(0.002)
    got = drain([s for row in subs for s in row])
    bad = [(c + 1, k) for c, row in enumerate(subs) for k, s in enumerate(row)
           if seqs(got[s]) != list(range(30))]
    assert not bad, bad[:5]
    assert sp.call("/status")["spdp"]["drops"]["unknown_source"] == 0


def test_gateway_ssrcs_demultiplexed(sp):
    """Steps: one gateway socket sends two cameras' streams (two SSRCs) to the
    shared port; two flows with the same source, one SSRC each.
    Verify: each flow's subscriber receives only its SSRC."""
    gw = udp()
    src = gw.getsockname()[1]
    add_flow(sp, 1001, src, ssrc=0xAAAA)
    add_flow(sp, 1002, src, ssrc=0xBBBB)
    a, b = add_sub(sp, 1001, 1), add_sub(sp, 1002, 1)
    sp.wait(lambda: active(sp, 1001, 1) and active(sp, 1002, 1), 10, "gateway flows active")
    time.sleep(0.2)
    for seq in range(20):
        gw.sendto(rtp(seq, 0xAAAA), ("127.0.0.1", SHARED))
        gw.sendto(rtp(1000 + seq, 0xBBBB), ("127.0.0.1", SHARED))
    got = drain([a, b])
    assert seqs(got[a]) == list(range(20))
    assert seqs(got[b]) == list(range(1000, 1020))
    assert all(struct.unpack("!I", d[8:12])[0] == 0xAAAA for d in got[a])
    assert all(struct.unpack("!I", d[8:12])[0] == 0xBBBB for d in got[b])


def test_unknown_source_on_shared_port_counted(sp):
    """Verify: a datagram from a source no flow expects is dropped and counted."""
    before = sp.call("/status")["spdp"]["drops"]["unknown_source"]
    stranger = udp()
    for seq in range(5):
        stranger.sendto(rtp(seq, 0xDEAD), ("127.0.0.1", SHARED))
    sp.wait(lambda: sp.call("/status")["spdp"]["drops"]["unknown_source"] == before + 5, 10,
            "drops counted")
