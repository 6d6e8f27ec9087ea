"""SRTP legs through real spdp + spcp on loopback (issue 4).

A camera sends SRTP; subscribers mix plain (terminate), same-key
(passthrough) and own-key (protect, given or generated) legs; every
subscriber decrypts every packet, in order, with its own key, for each of
the four suites. Also: the camera's SRTCP reaches everyone; a viewer's
SRTCP feedback is believed only when it authenticates; forged and replayed
camera packets are dropped and counted; fast start and NACK answers are
protected per mode; rekeying keeps the flow; an expired key stops its leg
with an event. The peer is pylibsrtp (Debian's python3-pylibsrtp).
"""
import base64
import os
import selectors
import socket
import struct
import time

import pytest
from pylibsrtp import Policy, Session

from sp_procs import Streampoint

SUITES = {
    "AES_CM_128_HMAC_SHA1_80": (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "AES_CM_128_HMAC_SHA1_32": (Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 30),
    "AEAD_AES_128_GCM": (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    "AEAD_AES_256_GCM": (Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
}
SSRC = 0x51515151
KEY_AU = [bytes([0x67, 0x42, 0xC0, 0x1E]) + bytes(20), bytes([0x68, 0xCE, 0x3C, 0x80]),
          bytes([0x65, 0x88]) + bytes(900)]
P_FRAME = bytes([0x41, 0x9A]) + bytes(600)


def b64(k):
    return base64.b64encode(k).decode()


def session(suite, key, outbound):
    p = Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND if outbound else Policy.SSRC_ANY_INBOUND,
               srtp_profile=SUITES[suite][0])
    return Session(policy=p)


def rtp(seq, ts, payload, marker=False):
    return struct.pack("!BBHII", 0x80, 96 | (0x80 if marker else 0), seq & 0xFFFF, ts, SSRC) + payload


def plain_stream(first_seq, frames, gop=5):
    out, seq = [], first_seq
    for f in range(frames):
        pl = KEY_AU if f % gop == 0 else [P_FRAME]
        for i, p in enumerate(pl):
            out.append(rtp(seq, f * 3600, p, marker=i == len(pl) - 1))
            seq += 1
    return out


def sender_report():
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, SSRC, 1, 2, 3, 4, 5)


def pli(sender):
    return struct.pack("!BBHII", 0x81, 206, 2, sender, SSRC)


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


def drain(socks, quiet=0.5, deadline=10.0):
    sel = selectors.DefaultSelector()
    got = {s: [] for s in socks}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    end, last = time.monotonic() + deadline, time.monotonic()
    while time.monotonic() < end and time.monotonic() - last < quiet:
        for key, _ in sel.select(0.05):
            while True:
                try:
                    got[key.fileobj].append(key.fileobj.recv(4096))
                except BlockingIOError:
                    break
                last = time.monotonic()
    sel.close()
    return got


def is_rtcp(d):
    return len(d) > 1 and 192 <= d[1] <= 223


def send_all(cam, port, pkts):
    for i, p in enumerate(pkts):
        cam.sendto(p, ("127.0.0.1", port))
        if i % 20 == 19:
            time.sleep(0.002)


class Viewer:
    """A subscriber socket and the key (None: plain) it decrypts with."""

    def __init__(self, suite, key):
        self.sock = udp()
        self.suite, self.key = suite, key
        self.rx = session(suite, key, False) if key else None

    def open(self, data, rtcp=False):
        if not self.rx:
            return data
        return self.rx.unprotect_rtcp(data) if rtcp else self.rx.unprotect(data)

    @property
    def port(self):
        return self.sock.getsockname()[1]


def flow_ready(sp, fid, n):
    sp.wait(lambda: (lambda f: f["state"] == "active" and len(f["subs"]) == n and
                     all(x["state"] == "active" for x in f["subs"]))(sp.call(f"/flow,id={fid}")),
            10, "flow and subscribers active")


def flow_plain_and_own(sp, fid, cam, suite, kc, k_own, extra=""):
    """An SRTP flow with a plain subscriber (1) and an own-key one (2)."""
    sp.call(f"/flow/add,id={fid}&source=127.0.0.1:{cam.getsockname()[1]}&rtcp_mux=1"
            f"&srtp_key={b64(kc)}{extra}")
    plain, own = Viewer(suite, None), Viewer(suite, k_own)
    sp.call(f"/sub/add,flow={fid}&id=1&rtp=127.0.0.1:{plain.port}&rtcp_mux=1")
    sp.call(f"/sub/add,flow={fid}&id=2&rtp=127.0.0.1:{own.port}&rtcp_mux=1&srtp_key={b64(k_own)}")
    flow_ready(sp, fid, 2)
    return plain, own, sp.call(f"/flow,id={fid}")["rtp_port"]


def counters(sp, fid):
    return sp.spctl("flow", str(fid))


@pytest.mark.parametrize("suite", list(SUITES))
def test_every_mode_round_trips(suite):
    klen = SUITES[suite][1]
    kc, k_own = os.urandom(klen), os.urandom(klen)
    cam = udp()
    with Streampoint(workers=1) as sp:
        r = sp.call(f"/flow/add,id=1&source=127.0.0.1:{cam.getsockname()[1]}&rtcp_mux=1&codec=h264"
                    f"&srtp={suite}&srtp_key={b64(kc)}")
        assert r.get("srtp") == suite, r
        port = r["rtp_port"] if r.get("rtp_port") else None
        plain, same, own = Viewer(suite, None), Viewer(suite, kc), Viewer(suite, k_own)
        modes = {}
        for sid, v, extra in ((1, plain, ""), (2, same, f"&srtp_key={b64(kc)}"),
                              (3, own, f"&srtp_key={b64(k_own)}")):
            r = sp.call(f"/sub/add,flow=1&id={sid}&rtp=127.0.0.1:{v.port}&rtcp_mux=1{extra}")
            modes[sid] = r["mode"]
            assert "srtp_key" not in r  # keys given are never echoed
        r = sp.call("/sub/add,flow=1&id=4&rtp=127.0.0.1:0&rtcp_mux=1&srtp_key=generate")
        assert r.get("error"), "port 0 must be refused"
        gen = Viewer(suite, None)
        r = sp.call(f"/sub/add,flow=1&id=4&rtp=127.0.0.1:{gen.port}&rtcp_mux=1&srtp_key=generate")
        assert r["mode"] == "protect" and r["srtp"] == suite
        gen.key = base64.b64decode(r["srtp_key"])
        assert len(gen.key) == klen
        gen.rx = session(suite, gen.key, False)
        assert modes == {1: "terminate", 2: "passthrough", 3: "protect"}
        flow_ready(sp, 1, 4)
        f = sp.call("/flow,id=1")
        assert {s["sub"]: s["mode"] for s in f["subs"]} == {1: "terminate", 2: "passthrough",
                                                             3: "protect", 4: "protect"}
        port = f["rtp_port"]
        viewers = [plain, same, own, gen]

        camtx = session(suite, kc, True)
        clear = plain_stream(100, 20)
        wire = [camtx.protect(p) for p in clear]
        send_all(cam, port, wire)
        sr = sender_report()
        sr_wire = camtx.protect_rtcp(sr)
        cam.sendto(sr_wire, ("127.0.0.1", port))
        got = drain([v.sock for v in viewers])
        for v in viewers:
            media = [d for d in got[v.sock] if not is_rtcp(d)]
            rtcp = [d for d in got[v.sock] if is_rtcp(d)]
            assert [v.open(d) for d in media] == clear, f"sub {viewers.index(v) + 1} media"
            assert [v.open(d, rtcp=True) for d in rtcp] == [sr]
        # Passthrough is the camera's own bytes; protect is not.
        assert [d for d in got[same.sock] if not is_rtcp(d)] == wire
        assert [d for d in got[own.sock] if not is_rtcp(d)] != wire
        c = counters(sp, 1)
        st = {x["sub"]: x for x in c["subs_stats"]}
        assert st[3]["srtp_protected"] >= len(clear) and st[4]["srtp_protected"] >= len(clear)
        assert st[1]["srtp_protected"] == 0 and st[2]["srtp_protected"] == 0
        assert c["srtp_auth_fail"] == 0 and c["srtp_replay"] == 0

        # Forged and replayed camera packets: dropped, counted, never forwarded.
        forged = bytearray(camtx.protect(rtp(200, 99999, P_FRAME)))
        forged[-1] ^= 1
        cam.sendto(bytes(forged), ("127.0.0.1", port))
        cam.sendto(wire[5], ("127.0.0.1", port))
        got = drain([v.sock for v in viewers], quiet=0.3)
        assert all(not got[v.sock] for v in viewers)
        c = counters(sp, 1)
        assert c["srtp_auth_fail"] == 1 and c["srtp_replay"] == 1

        # A viewer's SRTCP PLI reaches the camera protected with the camera's
        # key; a forged one is dropped first and counted on that viewer.
        viewer_tx = session(suite, k_own, True)
        bad = bytearray(viewer_tx.protect_rtcp(pli(0x777)))
        bad[12] ^= 0xFF
        own.sock.sendto(bytes(bad), ("127.0.0.1", port))
        assert not drain([cam], quiet=0.3)[cam]
        own.sock.sendto(viewer_tx.protect_rtcp(pli(0x777)), ("127.0.0.1", port))
        up = drain([cam])[cam]
        assert len(up) == 1
        camrx = session(suite, kc, False)
        fb = camrx.unprotect_rtcp(up[0])
        assert fb[1] == 206 and fb[0] & 0x1F == 1 and struct.unpack("!I", fb[8:12])[0] == SSRC
        st = {x["sub"]: x for x in counters(sp, 1)["subs_stats"]}
        assert st[3]["srtp_auth_fail"] == 1

        # NACK answers: re-protected for own-key viewers, the camera's bytes
        # again for passthrough ones (checked with fresh sessions: a real
        # viewer NACKs what it lost, ours got everything).
        seq = 110
        nack = struct.pack("!BBHIIHH", 0x81, 205, 3, 0x778, SSRC, seq, 0)
        own.sock.sendto(viewer_tx.protect_rtcp(nack), ("127.0.0.1", port))
        same_tx = session(suite, kc, True)
        same.sock.sendto(same_tx.protect_rtcp(struct.pack("!BBHIIHH", 0x81, 205, 3, 0x779, SSRC,
                                                          seq, 0)), ("127.0.0.1", port))
        got = drain([own.sock, same.sock])
        assert session(suite, k_own, False).unprotect(got[own.sock][0]) == clear[seq - 100]
        assert got[same.sock] == [wire[seq - 100]]

        # A late joiner starts at the last keyframe, in its own mode.
        late_same, late_own = Viewer(suite, kc), Viewer(suite, os.urandom(klen))
        sp.call(f"/sub/add,flow=1&id=5&rtp=127.0.0.1:{late_same.port}&rtcp_mux=1&srtp_key={b64(kc)}")
        sp.call(f"/sub/add,flow=1&id=6&rtp=127.0.0.1:{late_own.port}&rtcp_mux=1"
                f"&srtp_key={b64(late_own.key)}")
        got = drain([late_same.sock, late_own.sock])
        last_key = max(i for i, p in enumerate(clear) if p[12] == 0x67)
        assert got[late_same.sock] == wire[last_key:]
        assert [late_own.open(d) for d in got[late_own.sock]] == clear[last_key:]


def test_rekey_keeps_the_flow():
    suite = "AEAD_AES_128_GCM"
    kc, kc2, k_own = os.urandom(28), os.urandom(28), os.urandom(28)
    cam = udp()
    with Streampoint(workers=1) as sp:
        plain, own, port = flow_plain_and_own(sp, 7, cam, suite, kc, k_own)
        assert sp.call("/flow,id=7")["srtp"] == suite  # GCM is the default suite
        clear = plain_stream(1, 10)
        camtx = session(suite, kc, True)
        send_all(cam, port, [camtx.protect(p) for p in clear[:10]])
        drain([plain.sock, own.sock])  # first half, checked in the other test
        r = sp.call(f"/flow/rekey,id=7&srtp_key={b64(kc2)}")
        assert r["state"] == "pending", r
        r = sp.call("/sub/rekey,flow=7&id=2&srtp_key=generate")
        new_own = base64.b64decode(r["srtp_key"])
        time.sleep(0.2)
        # "continue" rekey: the camera keeps its sequence numbers.
        camtx2 = session(suite, kc2, True)
        send_all(cam, port, [camtx2.protect(p) for p in clear[10:]])
        got = drain([plain.sock, own.sock])
        assert got[plain.sock] == clear[10:]
        rx = session(suite, new_own, False)
        assert [rx.unprotect(d) for d in got[own.sock]] == clear[10:]
        # the old camera key is refused now
        cam.sendto(camtx.protect(rtp(500, 1, P_FRAME)), ("127.0.0.1", port))
        assert not drain([plain.sock], quiet=0.3)[plain.sock]
        assert counters(sp, 7)["srtp_auth_fail"] == 1
        r = sp.call("/sub/rekey,flow=7&id=1&srtp_key=generate")
        assert "error" in r  # a plain subscriber has no key
        assert "error" in sp.call(f"/flow/rekey,id=7&srtp=AEAD_AES_256_GCM&srtp_key={b64(os.urandom(44))}")


def test_expired_keys_stop_their_legs():
    suite = "AES_CM_128_HMAC_SHA1_80"
    kc, k_own = os.urandom(30), os.urandom(30)
    cam = udp()
    with Streampoint(workers=1, spdp_opts=["-o", "srtp.key_lifetime=40"]) as sp:
        plain, own, port = flow_plain_and_own(sp, 3, cam, suite, kc, k_own, f"&srtp={suite}")
        camtx = session(suite, kc, True)
        clear = [rtp(s, s * 10, P_FRAME) for s in range(60)]
        send_all(cam, port, [camtx.protect(p) for p in clear])
        got = drain([plain.sock, own.sock])
        assert got[plain.sock] == clear[:40]
        assert len(got[own.sock]) == 40
        assert sp.call("/flow,id=3").get("key_expired") is True
        # a new camera key brings the flow back
        kc2 = os.urandom(30)
        sp.call(f"/flow/rekey,id=3&srtp_key={b64(kc2)}&mode=reset")
        sp.wait(lambda: not sp.call("/flow,id=3").get("key_expired"), 5, "rekeyed")
        camtx2 = session(suite, kc2, True)
        more = [rtp(s, s * 10, P_FRAME) for s in range(60, 70)]
        send_all(cam, port, [camtx2.protect(p) for p in more])
        got = drain([plain.sock, own.sock])
        assert got[plain.sock] == more
        # the subscriber's own key ran out at its 41st packet: it is
        # removed with an event, the others go on
        assert not got[own.sock]
        sp.wait(lambda: [s["sub"] for s in sp.call("/flow,id=3")["subs"]] == [1], 5,
                "expired subscriber removed")
        assert sp.call("/flows")["subs_removed_by_spdp"] == 1


def test_bad_keys_are_refused():
    cam = udp()
    with Streampoint(workers=1) as sp:
        src = f"source=127.0.0.1:{cam.getsockname()[1]}"
        assert "error" in sp.call(f"/flow/add,id=1&{src}&srtp=AES_CM_128_HMAC_SHA1_80&srtp_key=abc")
        assert "error" in sp.call(f"/flow/add,id=1&{src}&srtp=NULL_CIPHER&srtp_key={b64(bytes(30))}")
        assert "error" in sp.call(f"/flow/add,id=1&{src}&srtp=AEAD_AES_128_GCM&srtp_key={b64(bytes(30))}")
        assert "error" in sp.call(f"/flow/add,id=1&{src}&srtp_key=inline:{b64(bytes(28))}|2^20|1:4")
        assert "error" in sp.call(f"/flow/add,id=1&{src}&srtp=AEAD_AES_128_GCM")
        assert "error" in sp.call(f"/flow/add,id=1&{src}&srtp_key={b64(bytes(28))}&srtp_window=10")
        r = sp.call(f"/flow/add,id=1&{src}&srtp_key=inline:{b64(bytes(28))}")
        assert r["srtp"] == "AEAD_AES_128_GCM"
        assert "srtp_key" not in r
        assert "error" in sp.call("/sub/add,flow=1&id=1&rtp=127.0.0.1:9&srtp_key=generate&srtp=BOGUS")
