"""Markdown tables for `spbench rtp` results (used by benchmarks/run.py).

run.py imports rtp_tables() for the README block of the rtp benchmark; it
can also be run by hand on a result file:

    python3 benchmarks/rtp_report.py result.json
"""

import json
import sys
from report_fmt import num as _num, rate as _rate

TARGETS = ("spdp", "naive", "loopback")


def _entries(res):
    out = {}
    for e in res.get("results", []) + res.get("baselines", []):
        out[(e.get("scenario"), e.get("target"))] = e
    return out


def _cell_state(e):
    if e is None:
        return "not run"
    if e.get("status") == "skipped":
        return "skipped"
    if e.get("status") == "error":
        return "error"
    return None


def rtp_tables(res):
    by = _entries(res)
    fanouts = res.get("params", {}).get("fanouts", [])
    targets = [t for t in TARGETS if t in res.get("params", {}).get("targets", TARGETS)]
    out = []

    # Zero-loss delivered rate per fan-out, with ratios.
    out += ["Highest offered rate delivered with zero loss (subscriber packets per second; "
            f"{res['params'].get('cameras')} cameras, {res['params']['stream']['packet_bytes']} B "
            "packets, every packet checked):", "",
            "| fan-out | " + " | ".join(targets) + " | spdp ÷ naive | spdp ÷ loopback | limited by (spdp / naive) |",
            "|---|" + "---:|" * len(targets) + "---:|---:|---|"]
    ratios = res.get("ratios", {})
    for fo in fanouts:
        sc = f"fanout_1:{fo}"
        cells = []
        for t in targets:
            e = by.get((sc, t))
            st = _cell_state(e)
            z = (e or {}).get("zero_loss") or {}
            cells.append(st if st else _rate(z.get("delivered_pps")) +
                         (" (unconfirmed)" if z.get("confirmed") is False else ""))
        rn = ratios.get("spdp/naive", {}).get(str(fo))
        rl = ratios.get("spdp/loopback", {}).get(str(fo))
        lim = " / ".join((by.get((sc, t)) or {}).get("limited_by", "–") for t in ("spdp", "naive"))
        out.append(f"| 1:{fo} | " + " | ".join(cells) +
                   f" | {_num(rn, '×{:.1f}')} | {_num(rl, '×{:.2f}')} | {lim} |")

    # CPU and latency at that rate.
    out += ["", "At that rate: forwarder CPU-seconds per million delivered packets "
            "(/proc/<pid>/stat), the tool's own (sender + receiver), and one-way latency p99; "
            "\"ref\" is the p99 at the common reference rate and what the forwarder adds to "
            "the loopback's:", "",
            "| fan-out | target | CPU s/Mpkt | tool s/Mpkt | p99 µs | p99 µs at ref | added at ref |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for fo in fanouts:
        sc = f"fanout_1:{fo}"
        for t in targets:
            e = by.get((sc, t))
            if _cell_state(e):
                continue
            z = e.get("zero_loss") or {}
            tool = z.get("tool_cpu_s_per_mpkt") or {}
            ref = (e.get("reference") or {}).get("latency_us", {})
            out.append(f"| 1:{fo} | {t} | {_num(z.get('forwarder_cpu_s_per_mpkt'))} | "
                       f"{_num((tool.get('sender') or 0) + (tool.get('receiver') or 0) if tool else None)} | "
                       f"{_num((z.get('latency_us') or {}).get('p99'), '{:.0f}')} | "
                       f"{_num(ref.get('p99'), '{:.0f}')} | "
                       f"{_num(e.get('added_p99_us_at_reference'), '{:+.0f}')} |")

    # Scale scenario and memory.
    scale = [k for k in by if k[0] and k[0].startswith("scale_")]
    if scale:
        sc = scale[0][0]
        p = res["params"].get("scale", {})
        out += ["", f"Scale: {p.get('cameras')} cameras × {p.get('viewers_per_camera')} viewers at "
                f"{p.get('pps_per_camera')} packets/s each for {p.get('duration_ms', 0) / 1000:g} s:", "",
                "| target | zero loss | delivered | lost | p99 µs | forwarder CPU cores | "
                "RSS/flow KiB | RSS/subscriber KiB | RSS/flow after traffic KiB |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for t in targets:
            e = by.get((sc, t))
            st = _cell_state(e)
            if st:
                out.append(f"| {t} | {st} |  |  |  |  |  |  |  |")
                continue
            step = next((s for s in e.get("steps", []) if s.get("kind") == "scale"), {})
            f = e.get("figures") or {}
            mem = e.get("memory") or {}
            out.append(f"| {t} | {'yes' if e.get('zero_loss_pass') else 'NO'} | "
                       f"{_rate(step.get('delivered_pps'))} | {step.get('lost', '–')} | "
                       f"{_num((step.get('latency_us') or {}).get('p99'), '{:.0f}')} | "
                       f"{_num(f.get('forwarder_cpu_cores'))} | "
                       f"{_num(mem.get('per_flow_kib'), '{:.1f}')} | "
                       f"{_num(mem.get('per_subscriber_kib'), '{:.2f}')} | "
                       f"{_num(mem.get('per_flow_after_traffic_kib', mem.get('total_per_flow_kib')), '{:.1f}')} |")
    goals = res.get("goals") or []
    if goals:
        out += ["", "Issue goals, checked on this run:", "", "| goal | value | met |", "|---|---:|---|"]
        for g in goals:
            out.append(f"| {g['goal']} | {g['value']:.2f} | {'yes' if g['met'] else '**no**'} |")
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        print(rtp_tables(json.load(fh)))
