"""Keys and certificates the integration suites make for themselves: a CA
and a server certificate it signs (openssl), device keys derived as spcp
derives them, small files."""
import hashlib
import hmac
import os
import subprocess


def write(d, name, text):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def derive(master, device):
    """The device key spcp derives from its master key (docs/agent-protocol.md)."""
    return hmac.new(master, b"sp-device-key|" + device.encode(), hashlib.sha256).digest()


def make_pki(d, ips):
    """A CA, and a P-256 server certificate it signs for ips. Returns the
    paths (ca, cert, key)."""
    def ossl(*a):
        out = subprocess.run(["openssl", *a], capture_output=True, text=True, timeout=60)
        if out.returncode:
            raise AssertionError(f"openssl {a[0]}: {out.stderr}")
    ca, cakey = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    crt, key, csr = (os.path.join(d, n) for n in ("sp.pem", "sp.key", "sp.csr"))
    ext = write(d, "san.ext", "subjectAltName=" + ",".join(f"IP:{ip}" for ip in ips) + "\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    ossl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=test CA", "-keyout", cakey, "-out", ca)
    ossl("req", "-new", *ec, "-subj", "/CN=streampoint test", "-keyout", key, "-out", csr)
    ossl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial", "-days", "2",
         "-extfile", ext, "-out", crt)
    return ca, crt, key
