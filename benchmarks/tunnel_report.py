"""Markdown tables for benchmarks/tunnel_bench.py results (used by
benchmarks/run.py for the README block of the tunnel benchmark); also by
hand on a result file:

    python3 benchmarks/tunnel_report.py result.json
"""

import json
import sys
from report_fmt import num as _n

ORDER = ("streampoint", "ssh", "stunnel", "plain", "direct")
LABEL = {"streampoint": "streampoint (spagent + spdp)", "ssh": "ssh -R",
         "stunnel": "stunnel4 pair", "plain": "plain socat pair (no TLS)",
         "direct": "direct TCP"}


def tunnel_tables(res):
    p = res.get("params", {})
    rel = res.get("relays", {})
    sp = rel.get("streampoint", {})
    ssh = rel.get("ssh", {})
    out = [f"Bulk TCP from a camera-side service (own network namespace, veth link, RTT "
           f"{_n(p.get('veth_rtt_ms'), '{:.3f}')} ms) to a client on the server side, "
           f"{p.get('bytes_per_transfer', 0) >> 20} MiB per transfer (split over the streams), "
           f"median of {p.get('reps')} interleaved run(s); every relay and scenario also passed "
           f"one sha256-checked transfer. CPU = utime+stime of every relay process on both "
           f"sides (/proc). streampoint: spdp {p.get('spdp_workers')} worker(s), "
           f"{sp.get('config', 'bulk')} config: stream window "
           f"{sp.get('spdp_stream_window')}, rx_buf_size {sp.get('spdp_rx_buf_size')}; "
           f"ssh -R: cipher {ssh.get('cipher')} (default would be "
           f"{ssh.get('default_cipher')}).", "",
           "| scenario | relay | Gbps (min–max) | relay CPU-s/GB | GB per CPU-s | "
           "CPU by process (s) |", "|---|---|---:|---:|---:|---|"]
    entries = res.get("results", [])
    scen = []
    for e in entries:
        if e["scenario"] not in scen:
            scen.append(e["scenario"])
    by = {(e["scenario"], e["relay"]): e for e in entries}
    for s in scen:
        for r in ORDER:
            e = by.get((s, r))
            if not e:
                continue
            procs = ", ".join(f"{k} {v:.2f}" for k, v in e.get("relay_cpu_by_process", {}).items())
            out.append(f"| {s} | {LABEL.get(r, r)} | {e['gbps']:.2f} ({e['gbps_min']:.2f}–"
                       f"{e['gbps_max']:.2f}) | {_n(e.get('cpu_s_per_gb'))} | "
                       f"{_n(e.get('gb_per_cpu_s'))} | {procs or '–'} |")
    ratios = res.get("ratios", {})
    if ratios:
        out += ["", "Ratios, streampoint ÷ baseline, same run (throughput per CPU-second; "
                "Gbps):", "",
                "| scenario | per CPU-s ÷ ssh -R | ÷ stunnel | ÷ plain | Gbps ÷ ssh -R | "
                "÷ stunnel | ÷ direct |", "|---|---:|---:|---:|---:|---:|---:|"]
        for s, x in ratios.items():
            cells = [x.get(k) for k in ("per_cpu_s streampoint/ssh",
                                        "per_cpu_s streampoint/stunnel",
                                        "per_cpu_s streampoint/plain",
                                        "gbps streampoint/ssh", "gbps streampoint/stunnel",
                                        "gbps streampoint/direct")]
            out.append(f"| {s} | " + " | ".join(_n(c, "×{:.2f}") for c in cells) + " |")
    for k, v in res.get("skipped", {}).items():
        out += ["", f"Skipped {k}: {v}"]
    cap = res.get("window_cap_gbps_per_stream", {})
    if cap.get("ssh"):
        out += ["", f"At {cap['rtt_ms']:g} ms RTT the windows alone cap one stream at "
                f"{_n(cap.get('streampoint'))} Gbps (streampoint) and {_n(cap.get('ssh'))} Gbps "
                "(ssh -R, 2 MiB channel window)."]
    goals = res.get("goals", [])
    if goals:
        out += ["", "Issue goals, checked on this run:", "", "| goal | value | met |",
                "|---|---:|---|"]
        for g in goals:
            out.append(f"| {g['goal']} | {g['value']:.2f} | {'yes' if g['met'] else '**no**'} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(tunnel_tables(json.load(open(sys.argv[1]))))
