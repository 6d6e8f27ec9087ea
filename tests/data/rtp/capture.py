#!/usr/bin/env python3
"""Record the RTP (and RTCP) that ffmpeg sends to 127.0.0.1:PORT/PORT+1.

Used once to make the samples in this directory (see README.md); the build
and the tests never run it. Output format (.rtpdump-lite): per packet a
2-byte big-endian length followed by the packet bytes, in arrival order.
Stops after `idle` seconds without a packet.
"""
import select
import socket
import struct
import sys


def main():
    port, rtp_out, rtcp_out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    idle = float(sys.argv[4]) if len(sys.argv) > 4 else 3.0
    socks = []
    for p in (port, port + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind(("127.0.0.1", p))
        socks.append(s)
    outs = [open(rtp_out, "wb"), open(rtcp_out, "wb")]
    counts = [0, 0]
    started = False
    while True:
        r, _, _ = select.select(socks, [], [], idle if started else 60)
        if not r:
            break
        started = True
        for s in r:
            i = socks.index(s)
            data = s.recv(65535)
            outs[i].write(struct.pack(">H", len(data)) + data)
            counts[i] += 1
    for o in outs:
        o.close()
    print(f"rtp {counts[0]} packets, rtcp {counts[1]} packets")


if __name__ == "__main__":
    main()
