#!/usr/bin/env python3
"""Run DPDK's unmodified dpdk-telemetry.py against a ctlsock server.

usage: telemetry_compat.py PATH/TO/ctlsock_demo_server

The demo server listens where dpdk-telemetry.py looks for a DPDK app with
file-prefix streampoint-test-<pid> (<runtime dir>/dpdk/<prefix>/
dpdk_telemetry.v2, and ...v2:1 for instance 1); the script is then driven
the way operators drive it: commands on a pipe (non-interactive mode prints
one JSON line per command), -i, -l, and once on a pseudo-terminal (the
interactive mode that prints the greeting). Exit 0 pass, 1 fail, 77 skip
(dpdk-telemetry.py not installed).
"""
import json
import os
import pty
import select
import signal
import shutil
import subprocess
import sys
import tempfile
import time

TELEMETRY = os.environ.get("DPDK_TELEMETRY", "/usr/bin/dpdk-telemetry.py")
MAX_OUTPUT_LEN = 16384
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def runtime_dir():
    """The directory dpdk-telemetry.py searches (same logic as the script)."""
    run_dir = os.environ.get("RUNTIME_DIRECTORY")
    if not run_dir:
        run_dir = "/var/run" if os.getuid() == 0 else os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return os.path.join(run_dir, "dpdk")


class Server:
    def __init__(self, binary, path, log):
        self.log = open(log, "w+")
        self.proc = subprocess.Popen([binary, path], stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError("demo server did not start on %s: %s" % (path, self.stderr()))

    def stderr(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.stderr()
        self.log.close()
        return self.proc.returncode, err


def telemetry(args, stdin_text):
    p = subprocess.run([TELEMETRY] + args, input=stdin_text, capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0, "dpdk-telemetry.py %s exited %d: %s" % (args, p.returncode, p.stderr))
    check(p.stderr == "", "dpdk-telemetry.py %s wrote to stderr: %s" % (args, p.stderr))
    return p.stdout


def json_lines(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_pipe(prefix, server_pid):
    cmds = ["/", "/info", "/help,/demo/echo", "/demo/echo,hello world", "/demo/list",
            "/demo/big", "/demo/fail", "/nonexistent", "not-a-command", "/help"]
    out = telemetry(["-f", prefix], "\n".join(cmds) + "\n")
    replies = json_lines(out)
    # the script skips lines not starting with '/'
    check(len(replies) == 9, "9 replies expected, got %d: %r" % (len(replies), out[:500]))
    if len(replies) != 9:
        return
    (lst, info, hlp, echo, dlist, big, fail, unknown, help_noarg) = replies
    check(lst == {"/": ["/", "/demo/big", "/demo/echo", "/demo/fail", "/demo/list",
                        "/help", "/info"]}, "/ lists the commands sorted: %r" % lst)
    i = info.get("/info", {})
    check(set(i) == {"version", "pid", "max_output_len"}, "/info keys: %r" % info)
    check(str(i.get("version", "")).startswith("streampoint-demo "), "/info version: %r" % info)
    check(i.get("pid") == server_pid, "/info pid %r != %d" % (i.get("pid"), server_pid))
    check(i.get("max_output_len") == MAX_OUTPUT_LEN, "/info max_output_len: %r" % info)
    check(hlp == {"/help": {"/demo/echo": "Echoes its parameter"}}, "/help,/demo/echo: %r" % hlp)
    check(echo == {"/demo/echo": "hello world"}, "echo: %r" % echo)
    check(dlist == {"/demo/list": {"cameras": ["cam-1", "cam-2", "cam-3"], "viewers": 42,
                                   "standalone": True}}, "/demo/list: %r" % dlist)
    b = big.get("/demo/big", [])
    check(isinstance(b, list) and 1000 < len(b) < 10000 and b == list(range(len(b))),
          "/demo/big: a leading part of 0..9999 that fits in max_output_len")
    check(len(json.dumps(big, separators=(",", ":"))) <= MAX_OUTPUT_LEN, "/demo/big size")
    check(fail == {"/demo/fail": None}, "failing handler -> null: %r" % fail)
    check(unknown == {"/nonexistent": None}, "unknown command -> null: %r" % unknown)
    check(help_noarg == {"/help": None}, "/help without parameter -> null: %r" % help_noarg)


def test_quit(prefix):
    replies = json_lines(telemetry(["-f", prefix], "/info\nquit\n/info\n"))
    check(len(replies) == 1, "'quit' ends the session: %r" % replies)


def test_instance(prefix, server_pid):
    replies = json_lines(telemetry(["-f", prefix, "-i", "1"], "/info\n"))
    check(len(replies) == 1 and replies[0]["/info"]["pid"] == server_pid,
          "-i 1 reaches dpdk_telemetry.v2:1: %r" % replies)


def test_list(prefix):
    out = telemetry(["-l"], "")
    lines = out.splitlines()
    check("Valid file-prefixes:" in lines and prefix in lines, "-l lists %s: %r" % (prefix, out))
    check(any("dpdk_telemetry.v2:1" in line and "-i 1" in line for line in lines),
          "-l shows the instance socket: %r" % out)


def test_interactive(prefix):
    """On a terminal the script prints the greeting and the app name."""
    master, slave = pty.openpty()
    p = subprocess.Popen([TELEMETRY, "-f", prefix], stdin=slave, stdout=slave, stderr=slave,
                         close_fds=True)
    os.close(slave)
    out = b""
    sent = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if b"--> " in out and not sent:
            os.write(master, b"/info\n")
            sent.append("/info")
        elif sent == ["/info"] and out.count(b"--> ") >= 2:
            os.write(master, b"quit\n")
            sent.append("quit")
        if p.poll() is not None and not r:
            break
    if p.poll() is None:
        p.kill()
    p.wait()
    os.close(master)
    text = out.decode(errors="replace")
    check(p.returncode == 0, "interactive session exit %r: %s" % (p.returncode, text))
    check("Connecting to " in text, "interactive: 'Connecting to': %r" % text)
    check('Connected to application: "ctlsock_demo_server"' in text,
          "interactive: app name from the greeting pid: %r" % text)
    check('"max_output_len": 16384' in text, "interactive: greeting printed: %r" % text)
    check('"/info": {' in text, "interactive: /info answered: %r" % text)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 1
    if not os.access(TELEMETRY, os.X_OK):
        print("SKIP: %s not installed (Debian package dpdk-dev)" % TELEMETRY)
        return 77
    binary = sys.argv[1]
    prefix = "streampoint-test-%d" % os.getpid()
    dpdk_dir = runtime_dir()
    base = os.path.join(dpdk_dir, prefix)
    made_dpdk_dir = not os.path.isdir(dpdk_dir)
    os.makedirs(base, mode=0o755)
    logs = tempfile.mkdtemp(prefix="telemetry-compat-")
    servers = []
    try:
        s0 = Server(binary, os.path.join(base, "dpdk_telemetry.v2"), os.path.join(logs, "0.log"))
        servers.append(s0)
        s1 = Server(binary, os.path.join(base, "dpdk_telemetry.v2:1"), os.path.join(logs, "1.log"))
        servers.append(s1)
        test_pipe(prefix, s0.proc.pid)
        test_quit(prefix)
        test_instance(prefix, s1.proc.pid)
        test_list(prefix)
        test_interactive(prefix)
    finally:
        for s in servers:
            rc, err = s.stop()
            check(rc == 0, "demo server exit status %r" % rc)
            check("Sanitizer" not in err and "runtime error" not in err,
                  "sanitizer report from the demo server:\n%s" % err)
        shutil.rmtree(logs, ignore_errors=True)
        leftovers = os.listdir(base)
        check(leftovers == [], "sockets left behind: %r" % leftovers)
        for name in leftovers:
            os.unlink(os.path.join(base, name))
        os.rmdir(base)
        if made_dpdk_dir:
            try:
                os.rmdir(dpdk_dir)
            except OSError:
                pass
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("dpdk-telemetry.py compatibility: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
