#!/usr/bin/python3
"""Demo traffic: synthetic H.264 cameras pushing RTP through spdp to viewers.

Creates CAMERAS flows and VIEWERS subscribers per flow on spcp's control
socket, sends GOPs of RTP (keyframe every 25 frames) at 25 frames/s for
SECONDS, and reports what each viewer received. One upstream per camera,
fanned out by spdp: the camera sends each packet once.
usage: demo_traffic.py RUNTIME_DIR INSTANCE [CAMERAS] [VIEWERS] [SECONDS]
"""
import json
import os
import selectors
import socket
import struct
import sys
import time

run_dir, inst = sys.argv[1], sys.argv[2]
cameras = int(sys.argv[3]) if len(sys.argv) > 3 else 4
viewers = int(sys.argv[4]) if len(sys.argv) > 4 else 3
seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 5

ctl = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
ctl.connect(os.path.join(run_dir, inst, "spcp.sock"))
max_out = json.loads(ctl.recv(1024))["max_output_len"]


def call(req):
    ctl.send(req.encode())
    return json.loads(ctl.recv(max_out))[req.split(",", 1)[0]]


def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


cams, ports, views = [], [], []
for c in range(cameras):
    cam = sock()
    cams.append(cam)
    call(f"/flow/add,id={c + 1}&source=127.0.0.1:{cam.getsockname()[1]}&rtcp_mux=1")
deadline = time.time() + 10
while time.time() < deadline and not all(call(f"/flow,id={c + 1}")["state"] == "active"
                                         for c in range(cameras)):
    time.sleep(0.05)
for c in range(cameras):
    ports.append(call(f"/flow,id={c + 1}")["rtp_port"])
    row = []
    for v in range(viewers):
        s = sock()
        row.append(s)
        call(f"/sub/add,flow={c + 1}&id={v + 1}&rtp=127.0.0.1:{s.getsockname()[1]}&rtcp_mux=1")
    views.append(row)
time.sleep(0.3)
print(f"demo: {cameras} cameras x {viewers} viewers, ports {ports}, {seconds:.0f} s of 25 fps H.264")

sel = selectors.DefaultSelector()
recv = {}
for c, row in enumerate(views):
    for v, s in enumerate(row):
        sel.register(s, selectors.EVENT_READ, (c, v))
        recv[(c, v)] = 0
seq = [0] * cameras
sent = 0
start = time.time()
frame = 0
while time.time() - start < seconds:
    key = frame % 25 == 0
    for c in range(cameras):
        nals = ([bytes([0x67, 0x42, 0xC0, 0x1E]) + bytes(16), bytes([0x68, 0xCE, 0x3C, 0x80]),
                 bytes([0x7C, 0x85, 0x88]) + bytes(1100), bytes([0x7C, 0x45]) + bytes(800)]
                if key else [bytes([0x41, 0x9A]) + bytes(700)])
        for i, nal in enumerate(nals):
            hdr = struct.pack("!BBHII", 0x80, 96 | (0x80 if i == len(nals) - 1 else 0),
                              seq[c] & 0xFFFF, frame * 3600, 0x5000 + c)
            cams[c].sendto(hdr + nal, ("127.0.0.1", ports[c]))
            seq[c] += 1
            sent += 1
    frame += 1
    next_frame = start + frame / 25
    while time.time() < next_frame:
        for k, _ in sel.select(max(0, next_frame - time.time())):
            while True:
                try:
                    k.fileobj.recv(2048)
                    recv[k.data] += 1
                except BlockingIOError:
                    break
time.sleep(0.3)
for k in sel.select(0):
    pass
for (c, v), s in [((c, v), s) for c, row in enumerate(views) for v, s in enumerate(row)]:
    while True:
        try:
            s.recv(2048)
            recv[(c, v)] += 1
        except BlockingIOError:
            break
print(f"demo: cameras sent {sent} packets (each once); viewers received:")
for c in range(cameras):
    got = [recv[(c, v)] for v in range(viewers)]
    print(f"  camera {c + 1}: sent {seq[c]}, viewers got {got}"
          f"{'  (all complete)' if all(g == seq[c] for g in got) else ''}")
