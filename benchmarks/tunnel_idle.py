#!/usr/bin/python3
"""Memory per idle agent tunnel in spdp (issue 6: "thousands of idle
tunnels must cost little; target under 64 KiB including TLS state").

Starts spdp (one worker) with a [tunnel] TLS listener on loopback, opens N
agent tunnels from this process (TLS, Upgrade with a valid token, 101;
then silence: a heartbeat interval long enough that nobody is pinged), and
compares spdp's VmRSS before and after, each read after the process
settled. Baseline: the same spdp with no tunnel (RSS before). The agents
are tests/integration/tun_agent.py's helpers, not spagent: what is
measured is spdp's cost per tunnel, whoever the agent is.

    /usr/bin/python3 benchmarks/tunnel_idle.py [--build-dir build/release] [--agents 1000,2000] [--record]

Needs a file-descriptor limit above the largest N (twice: both ends here).
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from tun_agent import connect_tls, token, upgrade  # noqa: E402

PORT = 44400
KEY = bytes.fromhex("11" * 32)


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def run(build, n, d):
    rt = os.path.join(d, "rt")
    os.makedirs(rt, exist_ok=True)
    cmd = [os.path.join(build, "dataplane", "spdp"), "-o", f"spdp.runtime_dir={rt}",
           "-o", "spdp.workers=1", "-o", "media.port_min=44000", "-o", "media.port_max=44399",
           "-o", f"tunnel.listen=127.0.0.1:{PORT}", "-o", f"tunnel.tls_cert={d}/c.pem",
           "-o", f"tunnel.tls_key={d}/k.pem", "-o", f"tunnel.token_key_file={d}/tok.keys",
           "-o", "tunnel.streampoint_id=sp-1", "-o", f"tunnel.max_agents={n + 16}",
           "-o", "tunnel.heartbeat_ms=600000", "-o", "tunnel.handshake_ms=60000"]
    p = subprocess.Popen(cmd, stdout=open(os.path.join(d, f"spdp-{n}.log"), "w"),
                         stderr=subprocess.STDOUT)
    socks = []
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                s = connect_tls(PORT)
                s.close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0)
        before = rss_kib(p.pid)
        t0 = time.time()
        for i in range(n):
            s = connect_tls(PORT)
            status, _ = upgrade(s, token(KEY, "k1", f"cam-{i:05d}", "sp-1"))
            if status != 101:
                raise RuntimeError(f"tunnel {i}: status {status}")
            socks.append(s)
        setup_s = time.time() - t0
        time.sleep(1.0)
        after = rss_kib(p.pid)
        return {"agents": n, "rss_before_kib": before, "rss_after_kib": after,
                "kib_per_idle_agent": round((after - before) / n, 1),
                "setup_s": round(setup_s, 2), "tunnels_per_s": round(n / setup_s, 1),
                "spdp_cmd": " ".join(cmd)}
    finally:
        for s in socks:
            s.close()
        p.terminate()
        p.wait(10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"))
    ap.add_argument("--agents", default="1000,2000")
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args()
    ns = [int(x) for x in a.agents.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 2 * max(ns) + 64:
        sys.exit(f"tunnel_idle: open-file limit {hard} is below {2 * max(ns) + 64}")
    d = tempfile.mkdtemp(prefix="sp-tunnel-idle-")
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=sp",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", f"{d}/k.pem",
                        "-out", f"{d}/c.pem"], check=True, capture_output=True)
        with open(f"{d}/tok.keys", "w") as f:
            f.write(f"k1 {KEY.hex()} current\n")
        rows = [run(a.build_dir, n, d) for n in ns]
    finally:
        shutil.rmtree(d, ignore_errors=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    res = {"benchmark": "tunnel-idle", "command": " ".join([sys.executable] + sys.argv),
           "recorded": now.isoformat(timespec="seconds"), "git_commit": commit,
           "machine": {"kernel": platform.release(), "cpus": os.cpu_count()},
           "baseline": "spdp's own RSS with the listener up and no tunnel (rss_before_kib)",
           "goal": "under 64 KiB per idle agent, TLS state included", "results": rows}
    for r in rows:
        print(f"tunnel_idle: {r['agents']} idle tunnels: spdp RSS {r['rss_before_kib']} -> "
              f"{r['rss_after_kib']} KiB, {r['kib_per_idle_agent']} KiB per agent "
              f"({r['tunnels_per_s']} tunnels/s set up)")
    if a.record:
        path = os.path.join(REPO, "benchmarks", "results",
                            f"tunnel-idle-{now.strftime('%Y%m%dT%H%M%SZ')}.json")
        with open(path, "w") as f:
            json.dump(res, f, indent=1)
        print(f"tunnel_idle: recorded {os.path.relpath(path, REPO)}")


if __name__ == "__main__":
    main()
