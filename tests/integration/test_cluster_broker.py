"""deploy/cluster/mosquitto.conf and mosquitto.acl in a real mosquitto
(Debian's 2.0): the example config with its paths pointed at a CA, broker
certificate and password file this test makes, on port 37883. A streampoint
(sp-1) publishes its retained status and ops reads it over TLS with a
password; anonymous clients are refused; sp-1 may not write sp-2's status:
that publish is sent first, then an allowed one, and ops must see only the
allowed one (order, not time, decides). Skips without mosquitto."""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from pki import make_pki

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CLUSTER = os.path.join(ROOT, "deploy", "cluster")
PORT = 37883

pytestmark = pytest.mark.skipif(not all(shutil.which(b) or os.path.exists(b) for b in
                                        ("/usr/sbin/mosquitto", "mosquitto_pub", "mosquitto_sub",
                                         "mosquitto_passwd")),
                                reason="mosquitto and mosquitto-clients not installed")


@pytest.fixture(scope="module")
def broker():
    d = tempfile.mkdtemp(prefix="sp-broker-")
    ca, crt, key = make_pki(d, ["127.0.0.1"])
    pw = os.path.join(d, "passwd")
    for i, (user, secret) in enumerate((("sp-1", "pw1"), ("sp-2", "pw2"), ("ops", "pwops"))):
        subprocess.run(["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [pw, user, secret],
                       check=True, capture_output=True, timeout=30)
    conf = open(os.path.join(CLUSTER, "mosquitto.conf")).read()
    for a, b in (("/etc/mosquitto/streampoint.passwd", pw),
                 ("/etc/mosquitto/streampoint.acl", os.path.join(CLUSTER, "mosquitto.acl")),
                 ("/etc/mosquitto/certs/ca.crt", ca), ("/etc/mosquitto/certs/broker.crt", crt),
                 ("/etc/mosquitto/certs/broker.key", key), ("/var/lib/mosquitto/", d + "/"),
                 ("listener 8883", f"listener {PORT} 127.0.0.1")):
        assert a in conf, a
        conf = conf.replace(a, b)
    # the test's files are private to its user: do not drop to `mosquitto`
    conf += f"\nuser {pwd.getpwuid(os.getuid()).pw_name}\nlog_dest file {d}/broker.log\n"
    path = os.path.join(d, "mosquitto.conf")
    open(path, "w").write(conf)
    proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", path], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(d, "stderr"), "wb"))
    for _ in range(200):  # bounded wait for the listener
        try:
            socket.create_connection(("127.0.0.1", PORT), 0.1).close()
            break
        except OSError:
            assert proc.poll() is None, open(os.path.join(d, "stderr")).read()
            time.sleep(0.05)
    else:
        raise AssertionError("mosquitto did not listen")
    yield {"ca": ca, "dir": d}
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(d, ignore_errors=True)


def client(b, tool, user, secret, *args):
    base = [tool, "-h", "127.0.0.1", "-p", str(PORT), "--cafile", b["ca"], "-V", "5"]
    if user:
        base += ["-u", user, "-P", secret]
    return subprocess.run(base + list(args), capture_output=True, text=True, timeout=30)


def test_retained_status_readable_by_ops(broker):
    r = client(broker, "mosquitto_pub", "sp-1", "pw1", "-q", "1", "-r",
               "-t", "sp/v1/streampoints/sp-1/status", "-m", '{"state":"up"}')
    assert r.returncode == 0, r.stderr
    r = client(broker, "mosquitto_sub", "ops", "pwops", "-C", "1", "-W", "20", "-v",
               "-t", "sp/v1/streampoints/+/status")
    assert r.returncode == 0 and r.stdout.strip() == 'sp/v1/streampoints/sp-1/status {"state":"up"}', \
        r.stdout + r.stderr


def test_anonymous_and_wrong_password_refused(broker):
    assert client(broker, "mosquitto_pub", None, None, "-t", "x", "-m", "x").returncode != 0
    assert client(broker, "mosquitto_pub", "sp-1", "nope", "-t", "x", "-m", "x").returncode != 0


def test_streampoint_cannot_write_another_status(broker):
    # retained messages on sp-2's topic: sp-1's forbidden one (dropped by the
    # ACL), then sp-2's own; ops must read sp-2's
    r = client(broker, "mosquitto_pub", "sp-1", "pw1", "-q", "1", "-r",
               "-t", "sp/v1/streampoints/sp-2/status", "-m", "forged")
    assert r.returncode == 0, r.stderr  # MQTT gives no error for a denied publish
    r = client(broker, "mosquitto_pub", "sp-2", "pw2", "-q", "1", "-r",
               "-t", "sp/v1/streampoints/sp-2/status", "-m", "genuine")
    assert r.returncode == 0, r.stderr
    r = client(broker, "mosquitto_pub", "sp-1", "pw1", "-q", "1", "-r",
               "-t", "sp/v1/streampoints/sp-2/status", "-m", "forged again")
    assert r.returncode == 0, r.stderr
    r = client(broker, "mosquitto_sub", "ops", "pwops", "-C", "1", "-W", "20",
               "-t", "sp/v1/streampoints/sp-2/status")
    assert r.stdout.strip() == "genuine", r.stdout + r.stderr
