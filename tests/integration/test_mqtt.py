"""spcp's MQTT session (issue 8, docs/mqtt.md) against a real mosquitto:
TLS listener on 127.0.0.1:36883 with a CA made here, a password file and an
ACL file that ties the identity topic level to the user name. paho-mqtt
(Debian's python3-paho-mqtt) plays operators. Ports 36100-36199 for media."""
import os
import queue
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import uuid

import pytest

from pki import make_pki, write
from sp_procs import Streampoint
from test_fanout import drain, seqs, udp

mqtt = pytest.importorskip("paho.mqtt.client")
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

PORT = 36883
SP_ID = "sp1"
USERS = {"sp1": "sp1-secret", "ops": "ops-secret", "billing": "bill-secret", "mallory": "mal-secret"}
ACL = """\
user sp1
topic readwrite sp/v1/streampoints/sp1/#
topic read sp/v1/cluster/cmd/#
topic write sp/v1/responses/#

pattern write sp/v1/streampoints/+/cmd/%u/#
pattern write sp/v1/cluster/cmd/%u/#
pattern read sp/v1/responses/%u/#
pattern read sp/v1/streampoints/+/status
pattern read sp/v1/streampoints/+/events/#
"""


class Broker:
    def __init__(self):
        if not shutil.which("mosquitto") or not shutil.which("mosquitto_passwd"):
            pytest.skip("mosquitto not installed")
        self.dir = tempfile.mkdtemp(prefix="mq-it-")
        os.chmod(self.dir, 0o755)  # mosquitto started as root reads as user mosquitto
        self.ca, crt, key = make_pki(self.dir, ["127.0.0.1"])
        pw = os.path.join(self.dir, "passwd")
        for i, (u, p) in enumerate(USERS.items()):
            subprocess.run(["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [pw, u, p],
                           check=True, capture_output=True)
        acl = write(self.dir, "acl", ACL)
        self.conf = write(self.dir, "mosquitto.conf", f"""\
per_listener_settings false
listener {PORT} 127.0.0.1
cafile {self.ca}
certfile {crt}
keyfile {key}
allow_anonymous false
password_file {pw}
acl_file {acl}
persistence false
set_tcp_nodelay true
log_dest stderr
log_type all
""")
        for f in os.listdir(self.dir):
            os.chmod(os.path.join(self.dir, f), 0o644)
        self.proc = None

    def start(self):
        # stderr is opened here, before mosquitto drops to its own user
        log = open(os.path.join(self.dir, "broker.log"), "ab")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
                return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError("mosquitto exited: " + open(log.name, errors="replace").read())
            time.sleep(0.05)
        self.stop()
        raise AssertionError("mosquitto did not open its listener")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Client:
    """A paho MQTT 5 client with TLS; every message it receives is queued."""
    def __init__(self, broker, user):
        self.user = user
        self.q = queue.Queue()
        self.backlog = []
        self.connected = queue.Queue()
        self.subacks = queue.Queue()
        self.c = mqtt.Client(client_id=f"it-{user}-{os.getpid()}", protocol=mqtt.MQTTv5)
        self.c.username_pw_set(user, USERS[user])
        self.c.tls_set(ca_certs=broker.ca, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.c.on_message = lambda c, u, m: self.q.put(m)
        self.c.on_connect = lambda c, u, f, rc, p=None: self.connected.put(rc)
        self.c.on_subscribe = lambda c, u, mid, rcs, p=None: self.subacks.put(rcs)
        self.c.connect("127.0.0.1", PORT, keepalive=30)
        # paho leaves Nagle on: ~40 ms per small request behind a delayed ACK
        self.c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.c.loop_start()
        assert self.connected.get(timeout=20) == 0
        self.sub(f"sp/v1/responses/{user}/#")

    def sub(self, topic):
        self.c.subscribe(topic, qos=1)
        rcs = self.subacks.get(timeout=20)
        assert all(int(getattr(r, "value", r)) <= 2 for r in rcs), rcs

    def wait(self, pred, timeout=30, what="message"):
        """The first message pred accepts (taken out; others are kept for later waits)."""
        for i, m in enumerate(self.backlog):
            if pred(m):
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                m = self.q.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            if pred(m):
                return m
            self.backlog.append(m)
        raise AssertionError(f"{self.user}: no {what} within {timeout}s")

    def send(self, name, payload, ident=None, cluster=False, corr=None):
        topic = (f"sp/v1/cluster/cmd/{ident or self.user}/{name}" if cluster else
                 f"sp/v1/streampoints/{SP_ID}/cmd/{ident or self.user}/{name}")
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = f"sp/v1/responses/{self.user}/r"
        corr = corr or uuid.uuid4().bytes
        props.CorrelationData = corr
        self.c.publish(topic, payload, qos=1, properties=props).wait_for_publish(20)
        return corr

    def request(self, name, params=None, cid=None, **kw):
        body = {"id": cid or uuid.uuid4().hex[:12]}
        if params is not None:
            body["params"] = params
        return self.request_raw(name, json_dumps(body), **kw)

    def request_raw(self, name, payload, **kw):
        corr = self.send(name, payload, **kw)
        m = self.wait(lambda m: getattr(m.properties, "CorrelationData", None) == corr,
                      what=f"response to {name}")
        return json_loads(m.payload)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def json_dumps(o):
    import json
    return json.dumps(o)


def json_loads(b):
    import json
    return json.loads(b)


def status_of(client):
    m = client.wait(lambda m: m.topic == f"sp/v1/streampoints/{SP_ID}/status", what="status")
    return json_loads(m.payload)


@pytest.fixture(scope="module")
def broker():
    b = Broker()
    try:
        b.start()
        yield b
    finally:
        b.stop()
        shutil.rmtree(b.dir, ignore_errors=True)


def sp_opts(broker, sp_dir_hint=None):
    pwfile = write(broker.dir, "sp1.pw", USERS["sp1"] + "\n")
    return ["-o", "mqtt.enable=true", "-o", "mqtt.host=127.0.0.1", "-o", f"mqtt.port={PORT}",
            "-o", f"mqtt.ca_file={broker.ca}", "-o", "mqtt.username=sp1",
            "-o", f"mqtt.password_file={pwfile}", "-o", f"mqtt.streampoint_id={SP_ID}",
            "-o", "mqtt.keepalive_s=5", "-o", "mqtt.reconnect_max_s=2",
            "-o", "mqtt.acl=ops:*,billing:list_*,billing:status",
            "-o", "mqtt.address=tunnel=127.0.0.1:36443,rtsp=127.0.0.1:36554"]


@pytest.fixture
def sp(broker):
    with Streampoint(workers=1, port_base=36100, spcp_opts=sp_opts(broker),
                     spdp_opts=["-o", "flows.rtcp_timeout_ms=0"]) as s:
        s.wait(lambda: s.call("/mqtt")["connected"], 30, "spcp connected to the broker")
        yield s


def rtp(seq, ssrc=0x4242):
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, ssrc) + bytes([0x41, 0x9A]) + bytes(300)


def test_status_and_commands(broker, sp):
    """Steps: read the retained status; as ops, flow_add + sub_add, then
    list_flows and describe_flow; repeat the sub_add with the same id; drain
    and undrain; set_log_level. Verify: status up with addresses and load;
    responses carry the id and correlation data; the repeat returns the
    same response (a second run would fail: the subscriber exists) and
    counts as repeated; drain shows in the retained status and as events."""
    ops = Client(broker, "ops")
    ops.sub(f"sp/v1/streampoints/{SP_ID}/status")
    ops.sub(f"sp/v1/streampoints/{SP_ID}/events/#")
    st = status_of(ops)
    assert st["state"] == "up" and st["id"] == SP_ID and st["version"]
    assert st["addresses"] == {"tunnel": "127.0.0.1:36443", "rtsp": "127.0.0.1:36554"}
    assert set(st["load"]) >= {"flows", "subscribers", "agents", "tunnels", "pulls",
                               "ingest_bps", "cpu_percent"}

    cam, viewer = udp(), udp()
    r = ops.request("flow_add", {"id": 7, "source": f"127.0.0.1:{cam.getsockname()[1]}",
                                 "rtcp_mux": True}, cid="fa-1")
    assert r["ok"] and r["id"] == "fa-1" and r["result"]["flow"] == 7, r
    sub = {"flow": 7, "id": 1, "rtp": f"127.0.0.1:{viewer.getsockname()[1]}", "rtcp_mux": 1}
    r1 = ops.request("sub_add", sub, cid="sa-1")
    assert r1["ok"], r1
    ev = ops.wait(lambda m: m.topic.endswith("/events/subscriber_added"), what="event")
    assert json_loads(ev.payload)["flow"] == 7
    r2 = ops.request("sub_add", sub, cid="sa-1")
    assert r2 == r1
    assert sp.call("/mqtt")["commands"]["repeated"] == 1
    flows = ops.request("list_flows")["result"]["flows"]
    assert [f["flow"] for f in flows] == [7] and flows[0]["subscribers"] == 1
    one = ops.request("describe_flow", {"id": 7})["result"]
    assert [s["sub"] for s in one["subs"]] == [1]
    # the same registry spctl sees
    assert [f["flow"] for f in sp.spctl("flows")["flows"]] == [7]

    assert ops.request("drain")["result"]["state"] == "draining"
    ops.wait(lambda m: m.topic.endswith("/status") and json_loads(m.payload)["state"] == "draining",
             what="status draining")
    ops.wait(lambda m: m.topic.endswith("/events/streampoint_draining"), what="draining event")
    assert ops.request("undrain")["result"]["state"] == "up"
    ops.wait(lambda m: m.topic.endswith("/status") and json_loads(m.payload)["state"] == "up",
             what="status up")
    r = ops.request("set_log_level", {"level": "debug"})
    assert r["ok"] and r["result"]["spcp"] == "debug"
    assert ops.request("status")["result"]["load"]["flows"] == 1
    # cluster-wide commands arrive through the shared subscription
    assert ops.request("status", cluster=True)["result"]["id"] == SP_ID
    r = ops.request("sub_del", {"flow": 7, "id": 1})
    assert r["ok"], r
    ops.close()


def test_bad_commands_get_errors(broker, sp):
    """Steps: bad JSON, wrong types, a huge payload, an unknown command,
    missing positional params, an identity the acl does not allow, and one
    the broker does not let publish under another's name. Verify: each gets
    a clear error response (the impersonation none: the broker drops it) and
    is counted; spcp keeps answering."""
    ops, bill, mal = Client(broker, "ops"), Client(broker, "billing"), Client(broker, "mallory")
    bad = [
        ("status", "{not json", "not a JSON object"),
        ("status", "[1]", "not a JSON object"),
        ("status", '{"id": 5}', '"id"'),
        ("flow_add", '{"id": "x", "params": {"id": "7 8"}}', "param values"),
        ("flow_add", '{"id": "x", "params": {"id": 1.5}}', "param values"),
        ("flow_add", '{"id": "x", "params": [1]}', '"params"'),
        ("flow_add", '{"id": "x", "params": {"id": "1&source=1.2.3.4:5"}}', "param values"),
        ("agent_switch", '{"id": "x", "params": {"device": "cam"}}', "missing param"),
        ("no_such_thing", '{"id": "x"}', "unknown command"),
        ("status", '{"id": "x", "pad": "' + "a" * (70 * 1024) + '"}', "too big"),
    ]
    for name, payload, why in bad:
        r = ops.request_raw(name, payload)
        assert r["ok"] is False and why in r["error"], (name, payload[:60], r)
    r = ops.request("flow_del", {"id": 999})
    assert r["ok"] is False and r["error"], r
    r = bill.request("flow_add", {"id": 9, "source": "127.0.0.1:36190"})
    assert r == {"id": r["id"], "ok": False, "streampoint": SP_ID, "error": "not authorised"}
    assert bill.request("list_flows")["ok"]
    # mallory may not publish as ops: the broker drops it; her own name is not in the acl
    mal.send("flow_add", '{"id": "m1", "params": {"id": 9, "source": "127.0.0.1:36190"}}',
             ident="ops")
    r = mal.request("flow_add", {"id": 9, "source": "127.0.0.1:36190"})
    assert r["error"] == "not authorised"
    assert mal.q.empty() and not mal.backlog
    c = sp.call("/mqtt")["commands"]
    assert c["bad_request"] == 8 and c["too_big"] == 1 and c["unknown"] == 1
    assert c["unauthorised"] == 2 and c["failed"] == 1
    assert sp.call("/flows")["count"] == 0
    for cl in (ops, bill, mal):
        cl.close()


def test_will_on_kill_and_status_on_restart(broker, sp):
    """Steps: kill -9 spcp; later start it again. Verify: the broker
    publishes the Will (retained status down); the new spcp publishes up."""
    ops = Client(broker, "ops")
    ops.sub(f"sp/v1/streampoints/{SP_ID}/status")
    assert status_of(ops)["state"] == "up"
    sp.procs["spcp"].kill()
    sp.procs["spcp"].wait()
    st = ops.wait(lambda m: m.topic.endswith("/status") and json_loads(m.payload)["state"] == "down",
                  what="Will")
    assert json_loads(st.payload)["reason"] == "will"
    sp.start("spcp")
    ops.wait(lambda m: m.topic.endswith("/status") and json_loads(m.payload)["state"] == "up",
             what="status up after restart")
    # a late reader sees the retained one
    late = Client(broker, "billing")
    late.sub(f"sp/v1/streampoints/{SP_ID}/status")
    assert status_of(late)["state"] == "up"
    ops.close()
    late.close()


def test_broker_outage(broker, sp):
    """Steps: a flow forwards RTP to a viewer; stop the broker; send more
    media, use spctl, add and remove a subscriber (events while offline);
    start the broker again. Verify: media never stops; spctl works; spcp
    reconnects, republishes its status, delivers the buffered events
    (counted published, none dropped)."""
    cam, viewer, v2 = udp(), udp(), udp()
    sp.call(f"/flow/add,id=3&source=127.0.0.1:{cam.getsockname()[1]}&rtcp_mux=1")
    sp.call(f"/sub/add,flow=3&id=1&rtp=127.0.0.1:{viewer.getsockname()[1]}&rtcp_mux=1")
    sp.wait(lambda: sp.call("/flow,id=3")["state"] == "active" and
            sp.call("/flow,id=3")["subs"][0]["state"] == "active", 10, "flow active")
    port = sp.call("/flow,id=3")["rtp_port"]
    for seq in range(10):
        cam.sendto(rtp(seq), ("127.0.0.1", port))
    assert seqs(drain([viewer], quiet=0.5)[viewer]) == list(range(10))
    before = sp.call("/mqtt")

    broker.stop()
    sp.wait(lambda: not sp.call("/mqtt")["connected"], 30, "spcp noticed the broker is gone")
    for seq in range(10, 20):
        cam.sendto(rtp(seq), ("127.0.0.1", port))
    assert seqs(drain([viewer], quiet=0.5)[viewer]) == list(range(10, 20))
    assert sp.spctl("status")["spcp"]["attached"]
    sp.call(f"/sub/add,flow=3&id=2&rtp=127.0.0.1:{v2.getsockname()[1]}&rtcp_mux=1")
    sp.call("/sub/del,flow=3&id=2")
    m = sp.spctl("mqtt")
    assert not m["connected"] and m["last_error"]
    assert m["events"]["buffered"] == 2

    broker.start()
    ops = Client(broker, "ops")
    ops.sub(f"sp/v1/streampoints/{SP_ID}/status")
    sp.wait(lambda: sp.call("/mqtt")["connected"], 30, "spcp reconnected")
    st = status_of(ops)
    assert st["state"] == "up" and st["load"]["flows"] == 1
    after = sp.call("/mqtt")
    assert after["reconnects"] == before["reconnects"] + 1
    assert after["events"]["buffered"] == 0 and after["events"]["dropped"] == 0
    assert after["events"]["published"] == before["events"]["published"] + 2
    for seq in range(20, 30):
        cam.sendto(rtp(seq), ("127.0.0.1", port))
    assert seqs(drain([viewer], quiet=0.5)[viewer]) == list(range(20, 30))
    ops.close()


def test_event_buffer_bound(broker):
    """Steps: max_events=1; stop the broker; three subscriber events happen;
    start the broker. Verify: one event kept, two counted dropped; the kept
    one is published after the reconnect."""
    opts = sp_opts(broker) + ["-o", "mqtt.max_events=1"]
    with Streampoint(workers=1, port_base=36100, spcp_opts=opts) as sp:
        sp.wait(lambda: sp.call("/mqtt")["connected"], 30, "spcp connected")
        viewer = udp()
        sp.call("/flow/add,id=1&source=127.0.0.1:36199")
        broker.stop()
        sp.wait(lambda: not sp.call("/mqtt")["connected"], 30, "spcp noticed the broker is gone")
        published = sp.call("/mqtt")["events"]["published"]
        rtp = f"rtp=127.0.0.1:{viewer.getsockname()[1]}"
        sp.call(f"/sub/add,flow=1&id=1&{rtp}")
        sp.call("/sub/del,flow=1&id=1")
        sp.call(f"/sub/add,flow=1&id=2&{rtp}")
        ev = sp.call("/mqtt")["events"]
        assert ev["buffered"] == 1 and ev["dropped"] == 2
        broker.start()
        sp.wait(lambda: sp.call("/mqtt")["connected"], 30, "spcp reconnected")
        sp.wait(lambda: sp.call("/mqtt")["events"]["buffered"] == 0, 30, "buffer flushed")
        ev = sp.call("/mqtt")["events"]
        assert ev["published"] == published + 1 and ev["dropped"] == 2
