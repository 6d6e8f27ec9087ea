#!/usr/bin/python3
"""Write the seed corpus of fuzz_turn_relay (tests/fuzz/corpus/fuzz_turn_relay/).

Each seed is a program in the op format fuzz_turn_relay.c describes, so
the fuzzer starts from inputs that reach every branch of the relay:
ChannelData both ways (RFC 8656 and RFC 5766 channels), Send and Data
indications, Binding, a request passed up, effects, expiry, responses.
Run it again after changing the op format.
"""
import os
import struct
import zlib

MAGIC = 0x2112A442
OUT = os.path.join(os.path.dirname(__file__), "corpus", "fuzz_turn_relay")


def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * ((4 - len(v) % 4) % 4)


def xor_v4(ip, port):
    raw = bytes(int(x) for x in ip.split("."))
    return struct.pack("!BBH", 0, 1, port ^ (MAGIC >> 16)) + bytes(
        a ^ b for a, b in zip(raw, struct.pack("!I", MAGIC)))


def stun(mtype, attrs, fingerprint=False, tid=b"fuzzseedtid1"):
    body = b"".join(attrs)
    if fingerprint:
        hdr = struct.pack("!HHI", mtype, len(body) + 8, MAGIC) + tid
        body += attr(0x8028, struct.pack("!I", zlib.crc32(hdr + body) ^ 0x5354554E))
    return struct.pack("!HHI", mtype, len(body), MAGIC) + tid + body


def client(who, payload):
    return bytes([0 | (who << 3)]) + struct.pack("!H", len(payload)) + payload


def peer(who, pick, payload):
    return bytes([2 | (who << 3), pick]) + struct.pack("!H", len(payload)) + payload


def chdata(ch, payload, pad=0):
    return struct.pack("!HH", ch, len(payload)) + payload + b"\0" * pad


def effect(typ, alloc, channel, sel, relay_pick=0, dual=0, transport=0, expiry=200, bw=0):
    return bytes([3, typ, alloc]) + struct.pack("!H", channel - 0x3FF0) + bytes(
        [0, expiry, bw, sel, relay_pick, dual, transport])


def time(k):
    return bytes([4 | (k << 3)])


def dump(start, room):
    """Continue a dump (start: a new one); the ring takes `room` records (15: any)."""
    return bytes([6 | (8 if start else 0) | (room << 4)])


def send(sock, port_lo, rport, alloc, payload, v6=False, tcp=False):
    return bytes([5 | (8 if v6 else 0) | (16 if tcp else 0), sock, port_lo, rport, alloc,
                  len(payload)]) + payload


SEND_IND = stun(0x0016, [attr(0x0012, xor_v4("203.0.113.5", 9001)), attr(0x0013, b"hello")])
BINDING = stun(0x0001, [], fingerprint=True)
ALLOCATE = stun(0x0003, [attr(0x0019, struct.pack("!I", 17 << 24))])
RESPONSE = stun(0x0101, [])

SEEDS = {
    "chdata_to_peer": client(0, chdata(0x4001, b"data")),
    "chdata_padded": client(0, chdata(0x4001, b"abc", pad=1)),
    "chdata_short": client(0, chdata(0x4001, b"abcdef")[:7]),
    "chdata_rfc5766_v6": client(0, chdata(0x58E6, b"six!")),
    "chdata_v6_client": client(1, chdata(0x4000, b"v6")),
    "send_indication": client(0, SEND_IND),
    "binding": client(2, BINDING),
    "allocate_up": client(3, ALLOCATE),
    "response_dropped": client(0, RESPONSE),
    "peer_channel": peer(0, 0, b"pong"),
    "peer_data_indication": peer(1, 0, b"data-indication"),
    "peer_no_permission": peer(2, 0, b"x"),
    "peer_v6": peer(3, 1, b"v6 peer"),
    "effects": effect(4, 1, 0x4000, 2) + effect(6, 1, 0x4002, 2) + peer(2, 0, b"now ok")
    + client(0, chdata(0x4002, b"to 6")),
    "install_replace_remove": effect(1, 3, 0x4000, 0x20, relay_pick=9, dual=1) + effect(3, 3, 0x4000, 0)
    + effect(2, 1, 0x4000, 0, expiry=10),
    "expire": time(31) * 7 + client(0, chdata(0x4001, b"late")) + time(1),
    "responses": send(0, 0, 80, 1, RESPONSE) + send(60, 1, 80, 0, RESPONSE)
    + send(0, 0, 80, 3, RESPONSE, tcp=True),
    "no_tx_buffers": bytes([7]) + peer(1, 0, b"no buffer") + bytes([7]),
    "dump": dump(True, 15),
    "dump_ring_full": dump(True, 1) + dump(False, 0) + effect(5, 1, 0x4000, 0)
    + effect(1, 4, 0x4000, 0x30, relay_pick=12) + dump(False, 2) + dump(False, 15),
    "dump_restarted": dump(True, 3) + dump(True, 15),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {OUT}")


if __name__ == "__main__":
    main()
