"""A minimal agent for the tunnel integration test (docs/agent-protocol.md
§1-3, §6): TLS to spdp, Upgrade with a bearer token, then the acceptor side
of the framing. An OPEN is answered by connecting to the target (allow-list)
and relaying bytes both ways with per-stream credit. A test peer, not a
product: single-threaded, select() over the TLS socket and the local ones."""
import base64
import hashlib
import hmac
import select
import socket
import ssl
import struct
import threading
import time

DATA, OPEN, OPEN_OK, OPEN_FAIL, CLOSE, WINDOW_UPDATE, PING, PONG, GOAWAY = range(9)
FIN = 1
R_CONNECT_FAILED, R_REFUSED = 5, 4


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(key, kid, device, sp_id, iat=None, ttl=600):
    """spt1.<kid>.<b64u dev>.<b64u sp>.<b64u iat||exp>.<b64u mac> (§5.5)."""
    iat = int(time.time()) if iat is None else iat
    body = ".".join(["spt1", kid, b64u(device.encode()), b64u(sp_id.encode()),
                     b64u(struct.pack(">QQ", iat, iat + ttl))])
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return body + "." + b64u(mac)


def frame(t, stream, payload=b"", flags=0):
    return struct.pack(">BBHI", t, flags, len(payload), stream) + payload


def connect_tls(port, cafile=None):
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    # Frames are small and credit-paced: Nagle + delayed ACK would stall
    # every window for 40 ms.
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def upgrade(s, tok):
    """Sends the Upgrade request; returns (status, bytes after the header)."""
    req = "GET /agent HTTP/1.1\r\nHost: sp.test\r\nUpgrade: streampoint-agent/1\r\n" \
          "Connection: Upgrade\r\n"
    if tok is not None:
        req += f"Authorization: Bearer {tok}\r\n"
    s.sendall((req + "\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            return None, b""
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    return int(head.split(b" ")[1]), rest


class Stream:
    def __init__(self, sock, send_win):
        self.sock = sock
        self.send_win = send_win     # what spdp still lets us send
        self.eof = False             # local side ended (FIN sent)
        self.peer_fin = False


class Agent(threading.Thread):
    """Runs until stop(); `allow` is the set of "host:port" targets."""

    def __init__(self, port, tok, allow, window=4 << 20, cafile=None):
        super().__init__(daemon=True)
        self.s = connect_tls(port, cafile)
        status, self.buf = upgrade(self.s, tok)
        if status != 101:
            raise RuntimeError(f"upgrade refused: {status}")
        self.allow = set(allow)
        self.window = window
        self.streams = {}
        self.opened = 0
        self.goaway = None
        self.running = True
        self.s.setblocking(False)

    def stop(self):
        self.running = False
        self.join(10)
        try:
            self.s.close()
        except OSError:
            pass

    def send(self, b):
        view = memoryview(b)
        while view:
            try:
                n = self.s.send(view)
                view = view[n:]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                select.select([], [self.s], [], 1)

    def on_frame(self, t, flags, sid, p):
        if t == OPEN:
            win, target = struct.unpack(">I", p[:4])[0], p[4:].decode()
            self.opened += 1
            if target not in self.allow:
                self.send(frame(OPEN_FAIL, sid, struct.pack(">H", R_REFUSED)))
                return
            host, port = target.rsplit(":", 1)
            try:
                ls = socket.create_connection((host, int(port)), timeout=5)
            except OSError:
                self.send(frame(OPEN_FAIL, sid, struct.pack(">H", R_CONNECT_FAILED)))
                return
            ls.setblocking(False)
            self.streams[sid] = Stream(ls, win)
            self.send(frame(OPEN_OK, sid, struct.pack(">I", self.window)))
        elif t == DATA:
            st = self.streams.get(sid)
            if st is None:
                return
            if p:
                st.sock.setblocking(True)
                try:
                    st.sock.sendall(p)
                except OSError:
                    pass
                st.sock.setblocking(False)
                self.send(frame(WINDOW_UPDATE, sid, struct.pack(">I", len(p))))
            if flags & FIN:
                st.peer_fin = True
                try:
                    st.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                self.maybe_done(sid)
        elif t == WINDOW_UPDATE:
            st = self.streams.get(sid)
            if st:
                st.send_win += struct.unpack(">I", p)[0]
        elif t == CLOSE:
            st = self.streams.pop(sid, None)
            if st:
                st.sock.close()
        elif t == PING:
            self.send(frame(PONG, 0, p))
        elif t == GOAWAY:
            self.goaway = struct.unpack(">IH", p)

    def maybe_done(self, sid):
        st = self.streams.get(sid)
        if st and st.eof and st.peer_fin:
            st.sock.close()
            del self.streams[sid]

    def parse(self):
        while len(self.buf) >= 8:
            t, flags, ln, sid = struct.unpack(">BBHI", self.buf[:8])
            if len(self.buf) < 8 + ln:
                return
            p, self.buf = self.buf[8:8 + ln], self.buf[8 + ln:]
            self.on_frame(t, flags, sid, p)

    def run(self):
        self.parse()
        while self.running:
            rd = [self.s] + [st.sock for st in self.streams.values()
                             if not st.eof and st.send_win > 0]
            r, _, _ = select.select(rd, [], [], 0.05)
            if self.s in r or self.s.pending():
                try:
                    while True:
                        d = self.s.recv(65536)
                        if not d:
                            self.running = False
                            break
                        self.buf += d
                        if not self.s.pending():
                            break
                except (ssl.SSLWantReadError, BlockingIOError):
                    pass
                except OSError:
                    self.running = False
                self.parse()
            for sid, st in list(self.streams.items()):
                if st.sock not in r or st.eof or st.send_win <= 0:
                    continue
                try:
                    d = st.sock.recv(min(st.send_win, 16384))
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if d:
                    st.send_win -= len(d)
                    self.send(frame(DATA, sid, d))
                else:
                    st.eof = True
                    self.send(frame(DATA, sid, b"", FIN))
                    self.maybe_done(sid)
