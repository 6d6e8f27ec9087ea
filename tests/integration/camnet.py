"""A camera LAN for the agent suites: a network namespace joined to the
host by a veth pair (no route in from anywhere else), and the options that
put spcp's agent endpoint, spdp's tunnel listener and spagent on it."""
import os
import subprocess


def sh(*argv, check=True, timeout=30):
    out = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and out.returncode:
        raise AssertionError(f"{argv}: {out.stderr}")
    return out


class CamNet:
    """Namespace `ns` with loopback up and `cam_ip`/30 on its veth end;
    `host_ip`/30 on the host's end. Addresses come from 10.<net>.<pid>.0/30,
    so suites running at once (different net) do not collide."""

    def __init__(self, tag, net):
        pid = os.getpid()
        self.ns = f"{tag}-{pid}"
        self.vh, self.vc = f"{tag}h{pid}"[:15], f"{tag}c{pid}"[:15]
        self.host_ip = f"10.{net}.{pid % 250 + 1}.1"
        self.cam_ip = f"10.{net}.{pid % 250 + 1}.2"

    def exec(self, *argv):
        """argv run inside the namespace."""
        return ["ip", "netns", "exec", self.ns] + list(argv)

    def up(self):
        sh("ip", "netns", "add", self.ns)
        try:
            sh("ip", "link", "add", self.vh, "type", "veth", "peer", "name", self.vc)
            sh("ip", "link", "set", self.vc, "netns", self.ns)
            sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.vh)
            sh("ip", "link", "set", self.vh, "up")
            sh(*self.exec("ip", "link", "set", "lo", "up"))
            sh(*self.exec("ip", "addr", "add", f"{self.cam_ip}/30", "dev", self.vc))
            sh(*self.exec("ip", "link", "set", self.vc, "up"))
        except BaseException:
            self.down()
            raise
        return self

    def down(self):
        sh("ip", "netns", "del", self.ns, check=False)
        sh("ip", "link", "del", self.vh, check=False)  # normally gone with the namespace

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()


def tunnel_opts(listen, crt, key, keyring, sp_id):
    """spdp: a TLS agent listener on `listen` ("ip:port[,ip:port]")."""
    return ["-o", f"tunnel.listen={listen}", "-o", f"tunnel.tls_cert={crt}",
            "-o", f"tunnel.tls_key={key}", "-o", f"tunnel.token_key_file={keyring}",
            "-o", f"tunnel.streampoint_id={sp_id}", "-o", "tunnel.heartbeat_ms=1000"]


def endpoint_opts(listen, crt, key, server_id, master_file, keyring, streampoints):
    """spcp: the agent endpoint; streampoints "id@host:port[,...]"."""
    return ["-o", "endpoint.enable=true", "-o", f"endpoint.listen={listen}",
            "-o", f"endpoint.tls_cert={crt}", "-o", f"endpoint.tls_key={key}",
            "-o", f"endpoint.server_id={server_id}", "-o", f"endpoint.master_key_file={master_file}",
            "-o", f"endpoint.token_key_file={keyring}", "-o", "endpoint.heartbeat_s=1",
            "-o", f"endpoint.streampoint={streampoints}"]


def agent_argv(build, device, key_file, ca, server_id, endpoint, allow, *extra):
    """spagent with quick heartbeats and backoff (tests wait on it)."""
    return [os.path.join(build, "agent/spagent"), "-o", f"agent.device_id={device}",
            "-o", f"agent.key_file={key_file}", "-o", f"agent.ca_file={ca}",
            "-o", f"agent.server_id={server_id}", "-o", f"agent.endpoint={endpoint}",
            "-o", f"agent.allow={allow}", "-o", "agent.heartbeat_s=1",
            "-o", "agent.backoff_base_ms=100", "-o", "agent.backoff_cap_ms=1000", *extra]
