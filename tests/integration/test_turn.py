"""TURN through real spdp + spcp on loopback with coturn's own clients (issue 5).

Debian's coturn package is the reference client: turnutils_stunclient
(Binding, answered by spdp itself), turnutils_uclient against
turnutils_peer in ChannelData mode, Send-indication mode (-s), TURN REST
credentials (-W) and, in a private network namespace, IPv6 (client over
::1, IPv6 relay -x, both mixed with IPv4); every run must report 0 lost
packets. A small STUN client here checks the security defaults with a
second spcp that has no allow-list: CreatePermission to every deny-list
address of the issue (IPv4-mapped and -compatible spellings included)
gets 403, and allocations past the per-user quota get 486. The same client
shows that a SIGKILLed spcp loses nothing: spdp keeps relaying, the new
spcp rebuilds its view from spdp's dump and the client's next Refresh (same
credentials, same nonce thanks to [turn] nonce_secret_file) succeeds. In a
namespace whose loopback MTU is 1280, DONT-FRAGMENT keeps spdp from
fragmenting what it relays: a datagram over the MTU is refused by the kernel
(tx_msgsize) instead of reaching the peer in fragments.

Notes on the coturn tools: uclient without -c asks for an RTP/RTCP pair
(EVEN-PORT with R=1), which streampoint answers 508 by design, so every
run uses -c; and uclient picks channel numbers from RFC 5766's range
0x4000-0x7FFF, hence [turn] rfc5766_channels = true here. The relay
address is 127.0.0.2 so that peers on 127.0.0.1 are not the relay itself
(always denied). Rates are small and every wait is bounded.
"""
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import zlib

import pytest

from sp_procs import Streampoint

# Outside spdp's default media range (30000-39999, where other spdps on the
# host allocate flow ports) and below the kernel's ephemeral ports.
# SP_TEST_PORT_OFFSET moves every port, so that two copies of the suite
# (two worktrees on one host) do not meet.
OFF = int(os.environ.get("SP_TEST_PORT_OFFSET", "0"))
LISTEN = 23478 + OFF
STRICT = 23479 + OFF  # the second streampoint's listener
PEER = 23480 + OFF
TLS = 23481 + OFF  # TURN over TLS (TCP shares LISTEN's number)
RESTORE = 23482 + OFF  # the spcp-restart streampoint's listener
RPEER = 23484 + OFF
DFL = 23483 + OFF      # DONT-FRAGMENT (in its own namespace)
DFPEER = 23485 + OFF
RELAY = "127.0.0.2"
USERS = ["-o", "turn.user=test:secret", "-o", "turn.user=quota:quotapw"]
REST = "rest-secret-1"
REALM = "lab.realm"
TOOLS = ["turnutils_uclient", "turnutils_peer", "turnutils_stunclient"]

pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                                reason="coturn's turnutils are not installed")


def spdp_turn(listen=f"127.0.0.1:{LISTEN}", streams=()):
    # Each module fixture lives until the module ends: they listen on
    # different ports (spdp's listeners are SO_REUSEPORT groups; a second
    # spdp of the same user on the same port would join the first's).
    return ["-o", f"turn.listen={listen}", "-o", "turn.max_allocs=64",
            "-o", "turn.max_perms=256", "-o", "turn.max_channels=256"] + list(streams)


def make_cert(d):
    """A self-signed server certificate for TURN over TLS (uclient does
    not verify it; tls_client() below does, against this same file)."""
    cert, key = os.path.join(d, "turn.crt"), os.path.join(d, "turn.key")
    out = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-days", "2", "-subj", "/CN=turn.test", "-addext",
               "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], timeout=30)
    assert out.returncode == 0, out.stderr
    return cert, key


def spcp_turn(extra=(), ports=(24000 + OFF, 24499 + OFF)):
    return ["-o", "turn.enable=true", "-o", f"turn.realm={REALM}",
            "-o", f"turn.relay_address={RELAY}", "-o", f"turn.port_min={ports[0]}",
            "-o", f"turn.port_max={ports[1]}", "-o", f"turn.rest_secret={REST}",
            "-o", "turn.rfc5766_channels=true"] + USERS + list(extra)


def run(cmd, timeout=60, netns=None):
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.run(prefix + cmd, capture_output=True, text=True, timeout=timeout)


def _udp_bound(port, netns=None):
    """Some UDP socket is bound to `port` (in the namespace)."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    out = subprocess.run(prefix + ["cat", "/proc/net/udp", "/proc/net/udp6"],
                         capture_output=True, text=True, timeout=10).stdout
    return f":{port:04X} " in out


class Peer:
    """turnutils_peer: echoes every datagram back to its sender."""

    def __init__(self, addr, port, netns=None):
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.p = subprocess.Popen(prefix + ["turnutils_peer", "-L", addr, "-p", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        Streampoint.wait(lambda: self.p.poll() is not None or _udp_bound(port, netns), 10,
                         f"turnutils_peer on port {port}")
        assert self.p.poll() is None, "turnutils_peer exited"

    def close(self):
        self.p.terminate()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


_local = iter(range(11, 250))


def uclient(args, server, clients=4, msgs=300, netns=None, port=LISTEN):
    """Run uclient at a moderate rate (one message per client every 2 ms)
    and return (sent, received, lost) from its final report. Each run
    binds its own local address: allocations outlive a uclient run, and a
    client port the kernel hands out again would meet the previous run's
    allocation (437, then ChannelBind conflicts)."""
    n = next(_local)
    local = f"fd00:7::{n:x}" if ":" in server else f"127.0.0.{n}"
    out = run(["turnutils_uclient", "-c", "-p", str(port), "-n", str(msgs), "-l", "120",
               "-z", "2", "-m", str(clients), "-L", local] + args + [server], timeout=90,
              netns=netns)
    text = out.stdout + out.stderr
    tot = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", text)
    lost = re.search(r"Total lost packets (\d+)", text)
    assert tot and lost, f"uclient {args} rc {out.returncode}:\n{text[-3000:]}"
    return int(tot[-1][0]), int(tot[-1][1]), int(lost.group(1))


def spdp_counters(sp):
    c = {}
    for w in sp.spctl("status")["spdp"]["workers_stats"]:
        for k, v in w["counters"].items():
            c[k] = c.get(k, 0) + v
    return c


def spdp_drops(sp):
    return sp.spctl("status")["spdp"]["drops"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_cert(str(tmp_path_factory.mktemp("turn-tls")))


@pytest.fixture(scope="module")
def sp(certs):
    streams = ["-o", f"turn.listen_tcp=127.0.0.1:{LISTEN}", "-o", f"turn.listen_tls=127.0.0.1:{TLS}",
               "-o", f"turn.tls_cert={certs[0]}", "-o", f"turn.tls_key={certs[1]}",
               "-o", "turn.conn_idle_ms=2000", "-o", "turn.tls_handshake_ms=2000"]
    with Streampoint(workers=2, port_base=36000 + OFF, spdp_opts=spdp_turn(streams=streams),
                     spcp_opts=spcp_turn(["-o", "turn.peer_allow=127.0.0.0/8"])) as s:
        peer = Peer("127.0.0.1", PEER)
        try:
            yield s
        finally:
            peer.close()


def test_stunclient_binding_answered_by_spdp(sp):
    """Steps: turnutils_stunclient asks for its reflexive address.
    Verify: the answer names the client's own address and port; spdp
    answered it (turn_bindings) without asking spcp."""
    before = spdp_counters(sp)["turn_bindings"]
    out = run(["turnutils_stunclient", "-p", str(LISTEN), "127.0.0.1"], timeout=30)
    m = re.search(r"UDP reflexive addr: 127\.0\.0\.1:(\d+)", out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    assert spdp_counters(sp)["turn_bindings"] > before
    assert sp.call("/turn")["counts"]["binding"] == 0


@pytest.mark.parametrize("mode,args,port", [
    ("channeldata", ["-u", "test", "-w", "secret"], LISTEN),
    ("send_indication", ["-s", "-u", "test", "-w", "secret"], LISTEN),
    ("rest_credentials", ["-u", "resty", "-W", REST], LISTEN),
    ("tcp_channeldata", ["-t", "-u", "test", "-w", "secret"], LISTEN),
    ("tcp_send_indication", ["-t", "-s", "-u", "test", "-w", "secret"], LISTEN),
    ("tls_channeldata", ["-t", "-S", "-u", "test", "-w", "secret"], TLS),
    ("tls_send_indication", ["-t", "-S", "-s", "-u", "resty", "-W", REST], TLS),
])
def test_uclient_relays_without_loss(sp, mode, args, port):
    """Steps: 4 uclient sessions each allocate, bind a channel (or create a
    permission and use Send indications with -s), and send 300 messages of
    120 bytes through the relay to turnutils_peer, which echoes them; over
    UDP, TCP (-t) and TLS (-S) to spdp's listeners.
    Verify: every message came back (0 lost); spdp relayed them both ways
    on the fast path; no relay drop was counted."""
    c0 = spdp_counters(sp)
    sent, recv, lost = uclient(args + ["-e", "127.0.0.1", "-r", str(PEER)], "127.0.0.1", port=port)
    assert (sent, recv, lost) == (1200, 1200, 0), mode
    c1 = spdp_counters(sp)
    assert c1["turn_to_peer"] - c0["turn_to_peer"] >= 1200
    assert c1["turn_to_client"] - c0["turn_to_client"] >= 1200
    drops = spdp_drops(sp)
    bad = {k: v for k, v in drops.items() if k.startswith("turn_") and v}
    assert not bad, bad
    t = sp.call("/turn")
    assert t["link"]["failed"] == 0 and t["link"]["effect_drops"] == 0


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, "connection closed"
        buf += chunk
    return buf


def _closed_by_server(s):
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True


def test_stream_binding_and_deadlines(sp, certs):
    """Steps: over TLS (verifying the suite's certificate, IP SAN) send a
    Binding request; then open a TCP connection, a TCP connection to the
    TLS port that never says hello, and a TLS connection that completes
    its handshake, and stay silent on all three.
    Verify: the Binding answer comes back on the TLS connection with our
    own address; spdp closes every silent connection at its deadline (2 s
    here, set by conn_idle_ms/tls_handshake_ms), counted as conn_idle."""
    ctx = ssl.create_default_context(cafile=certs[0])
    tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", TLS), timeout=10),
                          server_hostname="127.0.0.1")
    tid = os.urandom(12)
    tls.sendall(struct.pack(">HHI", 0x0001, 0, 0x2112A442) + tid)
    hdr = _recv_exact(tls, 20)
    typ, length, cookie = struct.unpack(">HHI", hdr[:8])
    assert (typ, cookie, hdr[8:]) == (0x0101, 0x2112A442, tid)
    body = _recv_exact(tls, length)
    assert struct.unpack(">H", body[:2])[0] == 0x0020  # XOR-MAPPED-ADDRESS
    xport = struct.unpack(">H", body[6:8])[0] ^ 0x2112
    assert xport == tls.getsockname()[1]
    tls.close()

    before = spdp_drops(sp)["conn_idle"]
    silent = [socket.create_connection(("127.0.0.1", LISTEN), timeout=10),
              socket.create_connection(("127.0.0.1", TLS), timeout=10),
              ctx.wrap_socket(socket.create_connection(("127.0.0.1", TLS), timeout=10),
                              server_hostname="127.0.0.1")]
    for s in silent:
        assert _closed_by_server(s)
        s.close()
    Streampoint.wait(lambda: spdp_drops(sp)["conn_idle"] >= before + 3, 10, "conn_idle counted")


def test_counters_and_ctl(sp):
    """Verify: /turn and `spctl turn` report the allocations made, answers
    by code, and effects sent to spdp; spdp's exception counters match."""
    t = sp.spctl("turn")
    assert t["enabled"] is True
    assert t["counts"]["allocate_ok"] >= 12
    assert t["counts"]["err_401"] >= 1
    # (a retransmitted Allocate is answered again without a new install)
    assert 12 <= t["link"]["installed"] <= t["counts"]["allocate_ok"]
    assert t["link"]["responses"] == t["link"]["requests"]
    c = spdp_counters(sp)
    assert c["turn_requests_up"] == t["link"]["requests"]
    # (TCP/TLS clients may close before the answer to their last Refresh)
    assert c["turn_responses"] + spdp_drops(sp)["conn_gone"] == t["link"]["responses"]


def test_relay_drops_unpermitted_peer(sp):
    """Steps: our own client allocates (no permission); a stranger sends
    five datagrams to the relayed address.
    Verify: the client receives nothing; spdp counts five
    turn_no_permission drops."""
    c = StunClient("127.0.0.1", LISTEN)
    try:
        relay = c.allocate("test", "secret")
        before = spdp_drops(sp)["turn_no_permission"]
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.bind(("127.0.0.1", 0))
        for _ in range(5):
            stranger.sendto(b"hello?", relay)
        Streampoint.wait(lambda: spdp_drops(sp)["turn_no_permission"] >= before + 5, 10,
                         "unpermitted peer counted")
        c.sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            c.sock.recv(2048)
        stranger.close()
    finally:
        c.close()


# ---------------------------------------------------------------- IPv6

@pytest.fixture(scope="module")
def netns():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for a network namespace")
    name = f"spturn{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", name]).returncode != 0:
        pytest.skip("cannot create a network namespace")
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        # A second IPv6 address for the peer (::1 is the relay itself) and
        # one per uclient run (see uclient()).
        for a in ["fd00:7::2"] + [f"fd00:7::{n:x}" for n in range(11, 40)]:
            subprocess.run(["ip", "-n", name, "addr", "add", f"{a}/128", "dev", "lo", "nodad"],
                           check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_ipv6_client_and_relay(netns):
    """Steps: in a namespace with ::1 and fd00:7::2 on loopback, spdp
    listens on 127.0.0.1 and [::1]; the IPv6 relay is ::1, peers are on
    fd00:7::2 (allowed) and 127.0.0.1. uclient runs over IPv6 with an IPv6
    relay (-x) with channels and with Send indications, over IPv4 with an
    IPv6 relay, and over IPv6 with an IPv4 relay; stunclient over IPv6.
    Verify: 0 lost packets in each run; the reflexive address is ::1.
    (uclient's dual allocation, -Z, is not run: coturn 4.6.1 sends
    ADDITIONAL-ADDRESS-FAMILY as 0x8032, its pre-RFC number, so the
    allocation is IPv4 only, and its Refreshes that name IPv6 get 443 as
    RFC 8656 says. Dual allocations with the RFC's 0x8000 are exercised by
    test_every_denied_peer_gets_403 and the unit tests.)"""
    with Streampoint(workers=2, port_base=36000 + OFF, netns=netns,
                     spdp_opts=spdp_turn(f"127.0.0.1:{LISTEN},[::1]:{LISTEN}"),
                     spcp_opts=spcp_turn(["-o", "turn.relay_address6=::1",
                                          "-o", "turn.peer_allow=127.0.0.0/8",
                                          "-o", "turn.peer_allow=fd00::/8"])) as s:
        p6 = Peer("fd00:7::2", PEER, netns)
        p4 = Peer("127.0.0.1", PEER + 1, netns)
        try:
            auth = ["-u", "test", "-w", "secret"]
            assert uclient(auth + ["-x", "-e", "fd00:7::2", "-r", str(PEER)], "::1",
                           clients=2, msgs=200, netns=netns) == (400, 400, 0)
            assert uclient(auth + ["-x", "-e", "fd00:7::2", "-r", str(PEER)], "127.0.0.1",
                           clients=2, msgs=200, netns=netns) == (400, 400, 0)
            assert uclient(auth + ["-s", "-x", "-e", "fd00:7::2", "-r", str(PEER)], "::1",
                           clients=2, msgs=200, netns=netns) == (400, 400, 0)
            # An IPv4 peer from an IPv6 client with an IPv4 relay.
            assert uclient(auth + ["-e", "127.0.0.1", "-r", str(PEER + 1)], "::1",
                           clients=2, msgs=200, netns=netns) == (400, 400, 0)
            out = run(["turnutils_stunclient", "-p", str(LISTEN), "::1"], netns=netns)
            assert "UDP reflexive addr: ::1:" in out.stdout + out.stderr
            assert s.call("/turn")["link"]["failed"] == 0
        finally:
            p6.close()
            p4.close()


# ---------------------------------------------------------------- security defaults

MAGIC = 0x2112A442


def _xor_addr(ip, port, tid):
    raw = socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
    fam = 2 if len(raw) == 16 else 1
    key = struct.pack("!I", MAGIC) + tid
    x = bytes(a ^ b for a, b in zip(raw, key))
    return struct.pack("!BBH", 0, fam, port ^ (MAGIC >> 16)) + x


def _attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * ((4 - len(v) % 4) % 4)


class StunClient:
    """Just enough STUN/TURN (RFC 8489/8656) for long-term credentials."""

    def __init__(self, host, port):
        self.server = (host, port)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((host if fam == socket.AF_INET else "::1", 0))
        self.sock.settimeout(5)
        self.nonce = None
        self.key = None
        self.user = None

    def close(self):
        self.sock.close()

    def request(self, method, attrs, sign=True):
        tid = os.urandom(12)
        body = b"".join(_attr(t, v(tid) if callable(v) else v) for t, v in attrs)
        if sign and self.nonce:
            body += _attr(0x0006, self.user.encode()) + _attr(0x0014, REALM.encode())
            body += _attr(0x0015, self.nonce)
            hdr = struct.pack("!HHI", method, len(body) + 24, MAGIC) + tid
            mac = hmac.new(self.key, hdr + body, hashlib.sha1).digest()
            body += _attr(0x0008, mac)
        hdr = struct.pack("!HHI", method, len(body) + 8, MAGIC) + tid
        crc = zlib.crc32(hdr + body) ^ 0x5354554E
        body += _attr(0x8028, struct.pack("!I", crc))
        msg = struct.pack("!HHI", method, len(body), MAGIC) + tid + body
        for _ in range(3):
            self.sock.sendto(msg, self.server)
            try:
                while True:
                    d = self.sock.recv(4096)
                    if d[8:20] == tid:
                        return self._parse(d)
            except socket.timeout:
                continue
        raise AssertionError(f"no answer to method {method:#x}")

    @staticmethod
    def _parse(d):
        mtype = struct.unpack("!H", d[:2])[0]
        attrs, off = {}, 20
        while off + 4 <= len(d):
            t, ln = struct.unpack("!HH", d[off:off + 4])
            attrs.setdefault(t, d[off + 4:off + 4 + ln])
            off += 4 + ((ln + 3) & ~3)
        code = 0
        if mtype & 0x0110 == 0x0110:
            e = attrs[0x0009]
            code = (e[2] & 7) * 100 + e[3]
        return code, attrs, d

    def allocate(self, user, password, dual=False, dont_fragment=False, ipv6=False):
        """Returns the relayed (host, port) of a fresh allocation."""
        self.user = user
        self.key = hashlib.md5(f"{user}:{REALM}:{password}".encode()).digest()
        attrs = [(0x0019, struct.pack("!I", 17 << 24))]
        if dual:
            attrs.append((0x8000, struct.pack("!I", 2 << 24)))
        if ipv6:
            attrs.append((0x0017, struct.pack("!I", 2 << 24)))
        if dont_fragment:
            attrs.append((0x001A, b""))
        code, a, _ = self.request(0x0003, attrs, sign=False)
        assert code == 401, code
        self.nonce = a[0x0015]
        code, a, raw = self.request(0x0003, attrs)
        if code:
            return code
        x, tid = a[0x0016], raw[8:20]
        port = struct.unpack("!H", x[2:4])[0] ^ (MAGIC >> 16)
        key = struct.pack("!I", MAGIC) + tid
        fam = socket.AF_INET6 if x[1] == 2 else socket.AF_INET
        ip = socket.inet_ntop(fam, bytes(b ^ c for b, c in zip(x[4:], key)))
        return (ip, port)

    def permit(self, peer_ip):
        code, _, _ = self.request(0x0008, [(0x0012, lambda tid: _xor_addr(peer_ip, 9, tid))])
        return code

    def channel_bind(self, channel, peer_ip, peer_port):
        code, _, _ = self.request(0x0009, [(0x000C, struct.pack("!HH", channel, 0)),
                                           (0x0012, lambda tid: _xor_addr(peer_ip, peer_port, tid))])
        return code

    def refresh(self, lifetime):
        code, _, _ = self.request(0x0004, [(0x000D, struct.pack("!I", lifetime))])
        return code

    def send_chdata(self, channel, data):
        self.sock.sendto(struct.pack("!HH", channel, len(data)) + data, self.server)

    def recv_chdata(self):
        d = self.sock.recv(65535)
        channel, n = struct.unpack("!HH", d[:4])
        return channel, d[4:4 + n]


def _ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


DENY_V4 = ["127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.1", "172.16.0.1",
           "172.31.255.255", "192.168.1.1", "100.64.0.1", "100.127.255.254", "169.254.169.254",
           "169.254.0.1", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
           RELAY]
DENY_V6 = ["::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "2002:c000:204::1",
           "2001:0:4136:e378:8000:63bf:3fff:fdd2", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
           "::ffff:169.254.169.254", "::ffff:192.168.0.1", "::127.0.0.1", "::ffff:0.0.0.0"]


@pytest.fixture(scope="module")
def strict():
    """A second streampoint: no allow-list, IPv6 relay when ::1 works,
    two allocations per user."""
    extra = ["-o", "turn.max_allocs_per_user=2"]
    if _ipv6_loopback():
        extra += ["-o", "turn.relay_address6=::1"]
    with Streampoint(workers=2, port_base=36000 + OFF, spdp_opts=spdp_turn(f"127.0.0.1:{STRICT}"),
                     spcp_opts=spcp_turn(extra, ports=(24500 + OFF, 24999 + OFF))) as s:
        yield s


def test_every_denied_peer_gets_403(strict):
    """Steps: one dual allocation (IPv4 + IPv6 relay); a CreatePermission
    per deny-list address of the issue: loopback, this-network, RFC 1918,
    CGNAT, link-local incl. 169.254.169.254, multicast, reserved,
    broadcast, the relay's own address, ::, ::1, ULA, IPv6 link-local and
    multicast, 6to4, Teredo, and IPv4-mapped/-compatible spellings such as
    ::ffff:127.0.0.1 (accepted by coturn 4.6.1).
    Verify: every one gets 403; a public peer gets 200; /turn counts the
    denials by reason."""
    v6 = _ipv6_loopback()
    c = StunClient("127.0.0.1", STRICT)
    try:
        relay = c.allocate("test", "secret", dual=v6)
        assert isinstance(relay, tuple), relay
        denied = {}
        for ip in DENY_V4 + (DENY_V6 if v6 else []):
            denied[ip] = c.permit(ip)
        wrong = {ip: code for ip, code in denied.items() if code != 403}
        assert not wrong, f"not refused with 403: {wrong}"
        assert c.permit("8.8.8.8") == 0
        if v6:
            assert c.permit("2a00:1450:4001::1") == 0
    finally:
        c.close()
    t = strict.call("/turn")
    assert t["counts"]["err_403"] == len(denied)
    pd = t["peer_denied"]
    assert pd["deny_loopback"] >= 3 and pd["deny_link_local"] >= 2
    assert pd["deny_relay_self"] >= 1
    if not v6:
        pytest.skip("no IPv6 loopback: the IPv6 deny-list was not exercised")


def test_quota_per_user_gets_486(strict):
    """Steps: user "quota" (limit 2 per user) allocates from three client
    ports. Verify: the first two succeed, the third gets 486; after one
    is deleted (Refresh 0) a new one succeeds."""
    cs = [StunClient("127.0.0.1", STRICT) for _ in range(3)]
    try:
        assert isinstance(cs[0].allocate("quota", "quotapw"), tuple)
        assert isinstance(cs[1].allocate("quota", "quotapw"), tuple)
        assert cs[2].allocate("quota", "quotapw") == 486
        code, _, _ = cs[0].request(0x0004, [(0x000D, struct.pack("!I", 0))])
        assert code == 0
        assert isinstance(cs[2].allocate("quota", "quotapw"), tuple)
    finally:
        for c in cs:
            c.close()
    assert strict.call("/turn")["counts"]["err_486"] == 1


# ---------------------------------------------------------------- spcp restart

def _relay_roundtrip(c, peer, relay, tag):
    """ChannelData 0x4001 from the client reaches the peer from the relayed
    address, and the peer's answer comes back as ChannelData."""
    c.send_chdata(0x4001, tag)
    data, src = peer.recvfrom(2048)
    assert (data, src) == (tag, relay)
    peer.sendto(b"back-" + tag, relay)
    assert c.recv_chdata() == (0x4001, b"back-" + tag)


def test_spcp_restart_keeps_allocations(tmp_path):
    """Steps: a client allocates, permits 127.0.0.1, binds channel 0x4001
    to a peer and relays both ways; spcp is SIGKILLed; the client relays
    again; spcp starts again (same [turn] nonce_secret_file); the client
    sends a Refresh with its credentials and the nonce it had; a second
    client allocates.
    Verify: spdp relays while spcp is gone; the new spcp re-attaches and
    /turn/allocs lists the allocation again (same id, user, client, relay,
    one permission, one channel) from spdp's dump; the Refresh succeeds
    (no 437, no 438) and traffic keeps flowing; the new allocation gets
    another id and port and the restored one keeps relaying."""
    secret = tmp_path / "nonce.secret"
    secret.write_bytes(os.urandom(32))
    secret.chmod(0o600)
    spcp = spcp_turn(["-o", "turn.peer_allow=127.0.0.0/8",
                      "-o", f"turn.nonce_secret_file={secret}"],
                     ports=(25000 + OFF, 25499 + OFF))
    with Streampoint(workers=2, port_base=36000 + OFF, spdp_opts=spdp_turn(f"127.0.0.1:{RESTORE}"),
                     spcp_opts=spcp) as s:
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", RPEER))
        peer.settimeout(5)
        c = StunClient("127.0.0.1", RESTORE)
        c2 = None
        try:
            relay = c.allocate("test", "secret")
            assert isinstance(relay, tuple), relay
            assert c.permit("127.0.0.1") == 0
            assert c.channel_bind(0x4001, "127.0.0.1", RPEER) == 0
            _relay_roundtrip(c, peer, relay, b"before")
            before = s.call("/turn/allocs")["allocations"]
            assert len(before) == 1 and before[0]["restored"] is False

            s.procs["spcp"].kill()
            s.procs["spcp"].wait(10)
            s._ctl.close()
            s._ctl = None
            _relay_roundtrip(c, peer, relay, b"alone")

            s.start("spcp")
            Streampoint.wait(lambda: s.status_rc() == 0, 20, "the new spcp attached")
            Streampoint.wait(lambda: s.call("/turn")["restore"]["state"] == "done", 20,
                             "the restore from spdp")
            r = s.call("/turn")["restore"]
            assert (r["allocations"], r["permissions"], r["channels"]) == (1, 1, 1), r
            assert r["refused"] == 0 and r["forgotten"] == 0, r
            after = s.call("/turn/allocs")["allocations"]
            assert len(after) == 1, after
            a = after[0]
            for k in ("id", "user", "client", "server", "relay", "worker"):
                assert a[k] == before[0][k], (k, a, before[0])
            assert a["client"] == "127.0.0.1:%d" % c.sock.getsockname()[1]
            assert (a["permissions"], a["channels"], a["restored"]) == (1, 1, True)

            assert c.refresh(600) == 0
            assert s.call("/turn/allocs")["allocations"][0]["restored"] is False
            _relay_roundtrip(c, peer, relay, b"after")

            c2 = StunClient("127.0.0.1", RESTORE)
            relay2 = c2.allocate("test", "secret")
            assert isinstance(relay2, tuple) and relay2 != relay, relay2
            ids = sorted(x["id"] for x in s.call("/turn/allocs")["allocations"])
            assert len(ids) == 2 and ids[1] > ids[0], ids
            _relay_roundtrip(c, peer, relay, b"still")
            t = s.call("/turn")
            assert t["counts"]["err_437"] == 0 and t["counts"]["err_438"] == 0
            assert t["link"]["failed"] == 0
            assert spdp_drops(s)["turn_no_alloc"] == 0
        finally:
            c.close()
            if c2:
                c2.close()
            peer.close()


# ---------------------------------------------------------------- DONT-FRAGMENT

@pytest.fixture(scope="module")
def df_netns():
    """A namespace whose loopback has the IPv6 minimum MTU, 1280 bytes, and
    a second IPv6 address for the peer (::1 is the relay)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for a network namespace")
    name = f"spdf{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", name]).returncode != 0:
        pytest.skip("cannot create a network namespace")
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "mtu", "1280", "up"], check=True)
        subprocess.run(["ip", "-n", name, "addr", "add", "fd00:7::2/128", "dev", "lo", "nodad"],
                       check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


# Runs inside the namespace (the test process is not in it): for each of
# an IPv4 and an IPv6 relay, one allocation with DONT-FRAGMENT and one
# without, each with a channel to the peer, send 1400 bytes then a marker
# through each, and report what the peer got from which relayed address.
_DF_CLIENT = r"""
import json, socket, sys
sys.path.insert(0, sys.argv[1])
from test_turn import StunClient
port, peer_port = int(sys.argv[2]), int(sys.argv[3])
out = {}
for fam, server, peer_ip in ((socket.AF_INET, "127.0.0.1", "127.0.0.1"),
                             (socket.AF_INET6, "::1", "fd00:7::2")):
    peer = socket.socket(fam, socket.SOCK_DGRAM)
    peer.bind((peer_ip, peer_port))
    peer.settimeout(5)
    relays = {}
    for df in (True, False):
        c = StunClient(server, port)
        relay = c.allocate("test", "secret", dont_fragment=df, ipv6=fam == socket.AF_INET6)
        assert isinstance(relay, tuple), relay
        assert c.channel_bind(0x4001, peer_ip, peer_port) == 0
        relays[relay[:2]] = (c, "df" if df else "plain")
    for c, name in relays.values():
        c.send_chdata(0x4001, b"B" * 1400)
        c.send_chdata(0x4001, b"marker-" + name.encode())
    got, markers = {}, 0
    while markers < 2:
        data, src = peer.recvfrom(65535)
        name = relays[src[:2]][1]
        got.setdefault(name, []).append(len(data))
        markers += data.startswith(b"marker-")
    out["v4" if fam == socket.AF_INET else "v6"] = got
    for c, _ in relays.values():
        c.close()
    peer.close()
print(json.dumps(out))
"""


def test_dont_fragment_relay(df_netns):
    """Steps: in a namespace with a 1280-byte loopback MTU, IPv4 and IPv6
    relays (127.0.0.1/::1 listeners, relays 127.0.0.2 and ::1); per
    family, one allocation asks for DONT-FRAGMENT and one does not; each
    sends 1400 bytes of ChannelData to the peer, then a short marker.
    Verify: without DONT-FRAGMENT the peer gets the 1400 bytes (fragmented
    on the way) before the marker; with it the peer gets only the marker,
    and spdp counts the refused sends as tx_msgsize (IP_MTU_DISCOVER DO /
    IPV6_DONTFRAG on the relay sockets); /turn/allocs shows which
    allocations asked for it."""
    ns = df_netns
    spcp = spcp_turn(["-o", "turn.relay_address6=::1", "-o", "turn.peer_allow=127.0.0.0/8",
                      "-o", "turn.peer_allow=fd00::/8"], ports=(25500 + OFF, 25999 + OFF))
    with Streampoint(workers=2, port_base=36000 + OFF, netns=ns,
                     spdp_opts=spdp_turn(f"127.0.0.1:{DFL},[::1]:{DFL}"), spcp_opts=spcp) as s:
        before = spdp_drops(s)["tx_msgsize"]
        out = run(["/usr/bin/python3", "-c", _DF_CLIENT, os.path.dirname(__file__), str(DFL),
                   str(DFPEER)], timeout=60, netns=ns)
        assert out.returncode == 0, out.stdout + out.stderr
        got = json.loads(out.stdout)
        for fam in ("v4", "v6"):
            assert got[fam]["plain"] == [1400, len("marker-plain")], got
            assert got[fam]["df"] == [len("marker-df")], got
        Streampoint.wait(lambda: spdp_drops(s)["tx_msgsize"] >= before + 2, 10,
                         "the refused sends counted")
        df = sorted(a["dont_fragment"] for a in s.call("/turn/allocs")["allocations"])
        assert df == [False, False, True, True], df
