#!/usr/bin/python3
"""Command round trip through the MQTT broker (issue 8), against the
baseline of the same command on spcp's control socket, measured in the same
run on the same spcp.

Starts mosquitto (TLS on 127.0.0.1:36883, password + ACL files, as
tests/integration/test_mqtt.py), spdp + spcp with [mqtt], adds F flows, then
alternates: one `list_flows` over MQTT (paho client: publish QoS 1 with a
response topic, wait for the response) and one `/flows` on the control
socket. Reports median/p90/p99 in µs and the ratio MQTT / ctlsock.

    /usr/bin/python3 benchmarks/mqtt_rtt.py [--build-dir build/release] [-n 500] [--flows 10] [--record]
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"))
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--flows", type=int, default=10)
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args()
    os.environ["SP_BUILD_DIR"] = os.path.abspath(a.build_dir)
    import test_mqtt as t  # after SP_BUILD_DIR: sp_procs reads it at import
    from sp_procs import Streampoint

    broker = t.Broker()
    broker.start()
    try:
        with Streampoint(workers=1, port_base=36100, spcp_opts=t.sp_opts(broker)) as sp:
            sp.wait(lambda: sp.call("/mqtt")["connected"], 30, "spcp connected")
            for i in range(a.flows):
                sp.call(f"/flow/add,id={i + 1}&source=127.0.0.1:{36900 + i}")
            ops = t.Client(broker, "ops")
            mq, cs = [], []
            for i in range(a.n + 20):
                t0 = time.perf_counter_ns()
                r = ops.request("list_flows", cid=f"b{i}")
                t1 = time.perf_counter_ns()
                sp.call("/flows")
                t2 = time.perf_counter_ns()
                assert r["ok"] and len(r["result"]["flows"]) == a.flows
                if i >= 20:  # warm-up
                    mq.append((t1 - t0) / 1e3)
                    cs.append((t2 - t1) / 1e3)
            ops.close()
    finally:
        broker.stop()
    res = {"name": "mqtt-rtt", "when": datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ"),
           "host": platform.node(), "build": os.path.basename(os.path.abspath(a.build_dir)),
           "n": a.n, "flows": a.flows,
           "command": "list_flows over MQTT 5 (TLS, QoS 1, response topic) vs /flows on the ctl socket"}
    for name, xs in (("mqtt_us", mq), ("ctlsock_us", cs)):
        res[name] = {"median": round(statistics.median(xs), 1), "p90": round(pct(xs, 90), 1),
                     "p99": round(pct(xs, 99), 1)}
    res["ratio_median"] = round(res["mqtt_us"]["median"] / res["ctlsock_us"]["median"], 2)
    res["ratio_p99"] = round(res["mqtt_us"]["p99"] / res["ctlsock_us"]["p99"], 2)
    print(json.dumps(res, indent=1))
    out = os.path.join(REPO, "benchmarks", "results") if a.record else \
        os.path.join(a.build_dir, "bench-results")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"mqtt-rtt-{res['build']}-{res['when']}.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
