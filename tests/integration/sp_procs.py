"""Start real spdp + spcp on loopback for integration tests, and talk to
them through spctl. Fails the test on sanitizer reports or err-level log
lines (syslog prefix <3>) that the test did not expect."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

BUILD = os.environ.get("SP_BUILD_DIR",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "debug"))
SANITIZER = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:")


class Streampoint:
    def __init__(self, workers=2, spdp_opts=(), spcp_opts=(), port_base=31000, netns=None):
        self.dir = tempfile.mkdtemp(prefix="sp-it-")
        self.workers = workers
        self.spdp_opts = list(spdp_opts) + [
            "-o", f"spdp.runtime_dir={self.dir}", "-o", f"spdp.workers={workers}",
            "-o", "media.address=127.0.0.1", "-o", f"media.port_min={port_base}",
            "-o", f"media.port_max={port_base + 3999}"]
        self.spcp_opts = list(spcp_opts) + ["-o", f"spcp.runtime_dir={self.dir}"]
        self.procs = {}
        self.prefix = ["ip", "netns", "exec", netns] if netns else []

    def start(self, name):
        binary = {"spdp": "dataplane/spdp", "spcp": "controlplane/spcp"}[name]
        opts = self.spdp_opts if name == "spdp" else self.spcp_opts
        log = open(os.path.join(self.dir, f"{name}.log"), "ab")
        self.procs[name] = subprocess.Popen(self.prefix + [os.path.join(BUILD, binary)] + opts,
                                            stderr=log, stdout=log)

    def __enter__(self):
        self.start("spdp")
        self.start("spcp")
        self.wait(lambda: self.status_rc() == 0, 20, "spcp attached to spdp")
        return self

    def __exit__(self, *exc):
        if getattr(self, "_ctl", None) is not None:
            self._ctl.close()
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        bad = []
        for name in ("spdp", "spcp"):
            path = os.path.join(self.dir, f"{name}.log")
            if os.path.exists(path):
                for line in open(path, errors="replace"):
                    if SANITIZER.search(line) or line.startswith("<3>"):
                        bad.append(f"{name}: {line.rstrip()}")
        if bad and exc[0] is None:
            raise AssertionError("unexpected log lines:\n" + "\n".join(bad[:20]))

    def spctl(self, *args, check=True):
        out = subprocess.run([os.path.join(BUILD, "ctl/spctl"), "-r", self.dir, "--json"] +
                             list(args), capture_output=True, text=True, timeout=20)
        if check and out.returncode != 0:
            raise AssertionError(f"spctl {args}: rc {out.returncode}: {out.stderr}{out.stdout}")
        return json.loads(out.stdout) if out.stdout.strip() else None

    def call(self, request):
        """One request on spcp's control socket (DPDK telemetry framing),
        over a connection kept open: much faster than a spctl per call."""
        if getattr(self, "_ctl", None) is None:
            self._ctl = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self._ctl.settimeout(20)
            self._ctl.connect(os.path.join(self.dir, "default", "spcp.sock"))
            greeting = json.loads(self._ctl.recv(1024))
            self._max = int(greeting["max_output_len"])
        self._ctl.send(request.encode())
        reply = json.loads(self._ctl.recv(self._max))
        return reply[request.split(",", 1)[0]]

    def status_rc(self):
        return subprocess.run([os.path.join(BUILD, "ctl/spctl"), "-r", self.dir, "status"],
                              capture_output=True, timeout=20).returncode

    @staticmethod
    def wait(cond, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")
