"""Markdown tables for `spbench srtp` results (used by benchmarks/run.py).

run.py imports srtp_tables() for the README block of the srtp benchmark; it
can also be run by hand on a result file:

    python3 benchmarks/srtp_report.py result.json
"""

import json
import sys
from report_fmt import num as _num, rate as _rate


def _pct(v):
    return "–" if v is None else f"{100 * v:.0f}%"


def _loss(v):
    if v is None:
        return "–"
    return "0" if v == 0 else f"{100 * v:.2f}%" if v < 0.1 else f"{100 * v:.0f}%"


def srtp_tables(res):
    p = res.get("params", {})
    entries = res.get("baselines", []) + res.get("results", [])
    scen = [e for e in entries if "scenario" in e and "mode" in e]
    plain = next((e for e in scen if e["mode"] == "plain"), None)
    plain_cpu = (plain or {}).get("fixed_rate", {}).get("forwarder_cpu_s_per_mpkt")
    plain_zl = ((plain or {}).get("zero_loss") or {}).get("delivered_pps")
    raw = res.get("raw_libsrtp", {})
    per_core = raw.get("per_core_pps", {})
    out = []

    out += [f"{p.get('cameras')} cameras × {p.get('fanout')} subscribers, "
            f"{p.get('packet_bytes')} B RTP packets (+ the SRTP tag), one fixed offered rate for "
            f"every mode: **{_rate(p.get('fixed_rate_pps'))}** delivered "
            f"(asked {_rate(p.get('requested_rate_pps'))}); spdp {p.get('spdp_workers')} workers, "
            f"libsrtp: {p.get('srtp_backend', '?')}. CPU = spdp's CPU-seconds per million "
            "delivered packets (/proc, all threads); median of "
            f"{p.get('reps')} step(s) of {p.get('fixed_ms')} ms.", "",
            "| scenario | delivered | loss | spdp CPU s/Mpkt (min–max) | × plain | spdp cores | "
            + ("zero-loss rate | " if p.get("search") else "") + "checked | notes |",
            "|---|---:|---:|---:|---:|---:|" + ("---:|" if p.get("search") else "") + "---|---|"]
    for e in scen:
        fx = e.get("fixed_rate") or {}
        v = e.get("verification", {})
        cpu = fx.get("forwarder_cpu_s_per_mpkt")
        spread = ""
        if fx.get("cpu_s_per_mpkt_min") is not None:
            spread = f" ({fx['cpu_s_per_mpkt_min']:.2f}–{fx['cpu_s_per_mpkt_max']:.2f})"
        if e.get("status") != "ok" and not fx:
            out.append(f"| {e['scenario']} | {e.get('status')}: {e.get('error') or e.get('skipped', '')} |"
                       + " |" * (7 if p.get("search") else 6))
            continue
        notes = []
        if fx and not fx.get("zero_loss") and fx.get("limited_by"):
            notes.append(fx["limited_by"])
        if fx and not fx.get("sender_on_time", True):
            notes.append("cameras behind schedule")
        if e.get("status") != "ok":
            notes.append(f"**{e.get('status')}**: {e.get('error', '')}")
        checked = "every packet" if e["mode"] in ("plain", "terminate") else (
            "every packet" if v.get("verify_every", 1) <= 1 else f"1 in {v.get('verify_every')}")
        if v.get("failures"):
            checked += f", **{v['failures']:.0f} SRTP failures**"
        row = [e["scenario"], _rate(fx.get("delivered_pps")), _loss(fx.get("loss_ratio")),
               _num(cpu) + spread, "–" if not cpu or not plain_cpu else f"×{cpu / plain_cpu:.2f}",
               _num(fx.get("forwarder_cpu_cores"))]
        if p.get("search"):
            zl = (e.get("zero_loss") or {}).get("delivered_pps")
            row.append(_rate(zl) + (f" (×{zl / plain_zl:.2f})" if zl and plain_zl and e is not plain
                                    else ""))
        row += [checked, "; ".join(notes)]
        out.append("| " + " | ".join(row) + " |")

    derived = res.get("derived", {})
    if derived:
        out += ["", "Per core (packets per CPU-second of one core). Raw = `spbench srtp-raw` in the "
                "same run (libsrtp directly, one pinned core). spdp's protect step = spdp's own "
                "time for a transmit buffer + encrypt, timed inside spdp on 1 operation in 16 "
                "(counters `srtp_protect_timed[_ns]`); unprotect likewise at ingest. Whole packet = "
                "protected packets per spdp CPU-second, kernel sends and everything included; "
                "marginal = 1 / (CPU per packet of protect − terminate), from process CPU time "
                "(noisy on a shared machine).", "",
                "| suite | raw protect | spdp protect step | ÷ raw | raw unprotect | spdp unprotect step "
                "| ÷ raw | whole packet | ÷ raw | marginal | ÷ raw | passthrough ÷ plain CPU |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for suite, d in derived.items():
            rp = per_core.get(suite, {}).get("libsrtp_protect")
            ru = per_core.get(suite, {}).get("libsrtp_unprotect")
            su = d.get("spdp_unprotect_us_per_pkt_sampled")
            out.append(f"| {suite} | {_rate(rp)} | {_rate(d.get('spdp_protect_pps_per_core_sampled'))} | "
                       f"{_pct(d.get('spdp_protect_vs_raw'))} | {_rate(ru)} | "
                       f"{_rate(1e6 / su if su else None)} | {_pct(d.get('spdp_unprotect_vs_raw'))} | "
                       f"{_rate(d.get('protect_pps_per_spdp_cpu_s'))} | "
                       f"{_pct(d.get('protect_per_core_vs_raw'))} | "
                       + ("within noise | – | " if d.get("protect_marginal_within_noise") else
                          f"{_rate(d.get('protect_marginal_pps_per_core'))} | "
                          f"{_pct(d.get('protect_marginal_vs_raw'))} | ") +
                       f"{_num(d.get('passthrough_cpu_per_pkt_vs_plain'))} |")
    if raw.get("unavailable"):
        out += ["", f"Raw libsrtp rates unavailable: {raw['unavailable']}."]

    goals = res.get("goals", [])
    if goals:
        out += ["", "Issue goals, checked on this run:", "", "| goal | value | met |", "|---|---:|---|"]
        for g in goals:
            note = f" ({g['note']})" if g.get("note") else ""
            out.append(f"| {g['goal']}{note} | {g['value']:.2f} | "
                       f"{'yes' if g['met'] else '**no**'} |")
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1]) as f:
        print(srtp_tables(json.load(f)))
