"""deploy/k8s: yamllint (Debian's package; kubeconform and kubeval are not
packaged) with deploy/k8s/.yamllint, then what a schema check would not
catch: the DaemonSet's shape (host network, media-node selector, the two
containers sharing /run/streampoint, capabilities, liveness through spctl),
the ini files embedded in the ConfigMap and Secret load in the binaries with
the same -o overrides the DaemonSet passes, and the broker ACL is the one of
deploy/cluster."""
import os
import shutil
import subprocess
import tempfile

import pytest
import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
K8S = os.path.join(ROOT, "deploy", "k8s")
BUILD = os.environ.get("SP_BUILD_DIR", os.path.join(ROOT, "build", "debug"))


def docs():
    out = []
    for name in sorted(os.listdir(K8S)):
        if name.endswith(".yaml"):
            with open(os.path.join(K8S, name)) as f:
                out += [d for d in yaml.safe_load_all(f) if d]
    return out


def find(kind, name):
    hits = [d for d in docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, (kind, name)
    return hits[0]


@pytest.mark.skipif(not shutil.which("yamllint"), reason="yamllint not installed (scripts/setup.sh)")
def test_yamllint():
    r = subprocess.run(["yamllint", "-s", "-f", "parsable", "-c", os.path.join(K8S, ".yamllint"), K8S],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_everything_in_the_namespace():
    for d in docs():
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == "streampoint", d["metadata"]["name"]


def test_daemonset_shape():
    ds = find("DaemonSet", "streampoint")
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert pod["shareProcessNamespace"] is True
    assert pod["nodeSelector"] == {"streampoint.example/media": "true"}
    assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    c = {x["name"]: x for x in pod["containers"]}
    assert set(c) == {"spdp", "spcp"}
    for x in c.values():
        sc = x["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
        assert "NET_BIND_SERVICE" in sc["capabilities"]["add"]
        mounts = {m["name"]: m["mountPath"] for m in x["volumeMounts"]}
        assert mounts["run"] == "/run/streampoint"
        probe = " ".join(x["livenessProbe"]["exec"]["command"])
        assert "spctl -r /run/streampoint status" in probe
    assert "IPC_LOCK" in c["spdp"]["securityContext"]["capabilities"]["add"]
    vols = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in vols["run"]
    assert vols["config"]["configMap"]["name"] == "streampoint-config"
    assert vols["keys"]["secret"]["secretName"] == "streampoint-keys"


def expand_args(args, env):
    for k, v in env.items():
        args = [a.replace(f"$({k})", v) for a in args]
    return args


@pytest.mark.parametrize("name,binary,source", [
    ("spdp", "dataplane/spdp", ("ConfigMap", "streampoint-config", "data")),
    ("spcp", "controlplane/spcp", ("Secret", "streampoint-keys", "stringData")),
])
def test_embedded_config_loads(name, binary, source):
    text = find(*source[:2])[source[2]][name + ".ini"]
    ds = find("DaemonSet", "streampoint")
    c = [x for x in ds["spec"]["template"]["spec"]["containers"] if x["name"] == name][0]
    assert c["args"][:2] == ["-c", f"/etc/streampoint/{'config' if name == 'spdp' else 'keys'}/{name}.ini"]
    with tempfile.TemporaryDirectory(prefix="sp-k8s-") as d:
        path = os.path.join(d, name + ".ini")
        open(path, "w").write(text)
        args = expand_args(c["args"][2:], {"NODE_NAME": "media-1", "HOST_IP": "10.0.0.11"})
        r = subprocess.run([os.path.join(BUILD, binary), "-c", path, "--show-config"] + args,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        if name == "spdp":
            assert "streampoint_id = media-1" in r.stdout
        else:
            assert "relay_address = 10.0.0.11" in r.stdout


def test_broker_acl_matches_the_cluster_example():
    def rules(text):
        return [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    cm = find("ConfigMap", "mosquitto-config")["data"]
    with open(os.path.join(ROOT, "deploy", "cluster", "mosquitto.acl")) as f:
        assert rules(cm["streampoint.acl"]) == rules(f.read())
    svc = find("Service", "mosquitto")
    assert svc["spec"]["ports"][0]["port"] == 8883
