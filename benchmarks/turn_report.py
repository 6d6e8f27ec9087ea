"""Markdown tables for `spbench turn` results (used by benchmarks/run.py).

run.py imports turn_tables() for the README block of the turn benchmark; it
can also be run by hand on a result file:

    python3 benchmarks/turn_report.py result.json
"""

import json
import sys
from report_fmt import num as _num, rate as _rate, ratio as _ratio


def turn_tables(res):
    p = res.get("params", {})
    entries = res.get("results", []) + res.get("baselines", [])
    by = {e["target"]: e for e in entries}
    pin = p.get("pinning", {})
    ratios = res.get("ratios", {}).get("streampoint/coturn", {})
    common = p.get("common_relayed_pps") or 0
    out = []

    where = (f"every server thread on CPU {pin.get('server_cpu')}, the tool on CPU "
             f"{pin.get('tool_cpu')}" if pin.get("pinned") else "nothing pinned")
    out += [f"{p.get('allocations')} allocations per server, each with a channel to one of "
            f"{p.get('peers')} echo peers; ChannelData of {p.get('channeldata_bytes')} B; "
            f"spdp {p.get('workers')} worker(s), coturn --relay-threads={p.get('workers')}; "
            f"{where}. Steps of {p.get('step_ms')} ms on a ladder from "
            f"{_rate(2 * p.get('start_echo_pps', 0))} relayed ×{p.get('factor')}, servers "
            "interleaved at every rung. **Relayed packets = 2 × echoes** (client → peer and "
            "peer → client). CPU = the server's CPU-seconds (/proc, all threads; spdp + spcp) per "
            "million relayed packets.", "",
            "| target | lossless relayed | limited by | CPU s/Mpkt there | RTT p50 / p99 µs "
            "there | allocs/s | CPU ms/alloc | threads | listener / relay rcvbuf |",
            "|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for name in ("streampoint", "coturn", "loopback"):
        e = by.get(name)
        if not e:
            continue
        if e.get("skipped"):
            out.append(f"| {name} | skipped: {e['skipped']} | | | | | | | |")
            continue
        at = e.get("at_lossless") or {}
        ch = e.get("allocations_churn") or {}
        st = e.get("setup") or {}
        thr = (f"{st.get('spdp_threads')} + {st.get('spcp_threads')}" if name == "streampoint"
               else str(st.get("turnserver_threads", "–")) if name == "coturn" else "–")
        buf = (f"{st.get('listener_rcvbuf', -1) // 1024} / {st.get('relay_rcvbuf', -1) // 1024} KiB"
               if "listener_rcvbuf" in st else "–")
        out.append(
            f"| {name} | {_rate(e.get('lossless_relayed_pps'))} | {e.get('limited_by', '–')} | "
            f"{_num(at.get('server_cpu_s_per_mpkt'))} | {_num(at.get('rtt_p50_us'), '{:.0f}')} / "
            f"{_num(at.get('rtt_p99_us'), '{:.0f}')} | {_num(ch.get('allocs_per_s'), '{:.0f}')} | "
            f"{_num(ch.get('server_cpu_ms_per_alloc'), '{:.3f}')} | {thr} | {buf} |")

    tries = p.get("common_tries") or 1
    lowered = f", lowered by a quarter {tries - 1}× after losses" if tries > 1 else ""
    out += ["", f"At the common rate, **{_rate(common)}** relayed ({p.get('common_frac')} × the lower "
            f"of the two servers' lossless rates{lowered}; medians of "
            f"{p.get('common_reps')} interleaved step(s) per target; loopback: the tool alone):", "",
            "| target | clean steps | CPU s/Mpkt | server cores | RTT p50 µs | RTT p99 µs | "
            "tool CPU s/Mpkt |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name in ("streampoint", "coturn", "loopback"):
        at = (by.get(name) or {}).get("at_common")
        if at:
            out.append(f"| {name} | {at.get('clean_steps')}/{at.get('steps')} | "
                       f"{_num(at.get('server_cpu_s_per_mpkt'))} | "
                       f"{_num(at.get('server_cores'))} | {_num(at.get('rtt_p50_us'), '{:.0f}')} | "
                       f"{_num(at.get('rtt_p99_us'), '{:.0f}')} | "
                       f"{_num(at.get('tool_cpu_s_per_mpkt'))} |")

    out += ["", "Ratios streampoint ÷ coturn (same run):", "",
            "| lossless relayed pps | CPU s/Mpkt at common | RTT p50 at common | RTT p99 at common "
            "| allocs/s |", "|---:|---:|---:|---:|---:|",
            f"| {_ratio(ratios.get('lossless_relayed_pps'))} | "
            f"{_ratio(ratios.get('server_cpu_s_per_mpkt_at_common'))} | "
            f"{_ratio(ratios.get('rtt_p50_at_common'))} | {_ratio(ratios.get('rtt_p99_at_common'))} | "
            f"{_ratio(ratios.get('allocs_per_s'))} |"]

    out += ["", "Steps (relayed packets/s offered → lost; why a step lost):", "",
            "| target | " + " | ".join(["steps"]) + " |", "|---|---|"]
    for name in ("streampoint", "coturn", "loopback"):
        e = by.get(name)
        if not e or e.get("skipped"):
            continue
        cells = []
        for s in e.get("steps", []):
            if s.get("kind") == "warmup":
                continue
            mark = "ok" if s.get("clean") else (f"lost {s.get('lost')}" + (
                f" ({s['limited_by']})" if s.get("limited_by") else ""))
            cells.append(f"{_rate(s.get('offered_relayed_pps'))} {mark}")
        out.append(f"| {name} | " + "; ".join(cells) + " |")

    sp = by.get("streampoint") or {}
    link = (sp.get("spcp_turn") or {}).get("link") or {}
    churn = sp.get("allocations_churn") or {}
    if link or churn:
        reps = churn.get("reps", [])
        out += ["", f"Allocation churn: {p.get('alloc_inflight')} cycles in flight for "
                f"{p.get('alloc_ms')} ms × {p.get('alloc_reps')} per server (Allocate 401 → "
                "authenticated Allocate → Refresh 0, a fresh client 5-tuple each). streampoint: "
                f"retransmits {sum(r.get('retransmits', 0) for r in reps)}, timeouts "
                f"{sum(r.get('timeouts', 0) for r in reps)}; spdp could not install "
                f"{link.get('failed', '–')} of spcp's allocations (spcp `/turn` link.failed)."]

    goals = res.get("goals", [])
    if goals:
        out += ["", "Issue goals, checked on this run:", "", "| goal | value | met |", "|---|---:|---|"]
        for g in goals:
            met = "yes" if g.get("met") else "**no**"
            note = f" ({g['note']})" if g.get("note") else ""
            out.append(f"| {g['goal']}{note} | {g['value']:.2f} | {met} |")
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(turn_tables(json.load(f)))
