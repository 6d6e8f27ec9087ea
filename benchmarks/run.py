#!/usr/bin/python3
"""Run streampoint's benchmarks and keep their results.

    python3 benchmarks/run.py [--preset quick|full] [--only ring,...]
                              [--build-dir build/release] [--record]

Each registered benchmark (BENCHMARKS below: name -> spbench argv per
preset) runs as one spbench subcommand that prints a JSON result with its
baselines measured in the same run. This script adds what spbench cannot
see (toolchain, Debian release, git commit), stores the result with the exact
command lines, renders a gnuplot PNG where a curve says more than a table,
and, with --record, keeps the result under benchmarks/results/ and refreshes
the results table in benchmarks/README.md. Without --record everything goes
under <build-dir>/bench-results/ so CI never dirties the tree.

Debian's python3 and the standard library only. Exit status is non-zero if
any benchmark failed.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rtp_report import rtp_tables  # benchmarks/rtp_report.py
from srtp_report import srtp_tables  # benchmarks/srtp_report.py
from turn_report import turn_tables  # benchmarks/turn_report.py
from tunnel_report import tunnel_tables  # benchmarks/tunnel_report.py

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
RESULTS = BENCH / "results"
README = BENCH / "README.md"
PLOTS = BENCH / "plot"


# ---------------------------------------------------------------- tables

def fmt_rate(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    return f"{v / 1e3:.0f} k/s"


def ring_tables(res):
    """Markdown for the ring benchmark: rates, ratios, CPU per message."""
    entries = res.get("results", []) + res.get("baselines", [])
    sizes = res["params"]["sizes"]
    names = []
    for e in entries:
        if e["transport"] not in names:
            names.append(e["transport"])
    by = {(e["transport"], e["size"]): e for e in entries}
    rings = [n for n in names if by[(n, sizes[0])]["kind"] == "ring"]
    bases = [n for n in names if n not in rings]

    reps = res["params"]["reps"]
    out = ["Messages per second between two processes (median of "
           f"{reps} run{'s' if reps != 1 else ''} of {res['params']['count']:,} messages; "
           "ns per message in brackets):", "",
           "| size | " + " | ".join(names) + " |",
           "|---:|" + "---:|" * len(names)]
    for s in sizes:
        cells = [f"{fmt_rate(by[(n, s)]['msgs_per_s'])} ({by[(n, s)]['ns_per_msg']:.0f} ns)"
                 for n in names]
        out.append(f"| {s} B | " + " | ".join(cells) + " |")

    ratios = res.get("ratios", {})
    if rings and bases:
        out += ["", "Ratios, ring msgs/s ÷ baseline msgs/s (× " + " / × ".join(bases) +
                "; above 1 the ring is faster):", "",
                "| ring variant | " + " | ".join(f"{s} B" for s in sizes) + " |",
                "|---|" + "---:|" * len(sizes)]
        for r in rings:
            cells = []
            for s in sizes:
                parts = []
                for b in bases:
                    v = ratios.get(f"{r}/{b}", {}).get(str(s))
                    parts.append(f"×{v:.1f}" if v is not None else "–")
                cells.append(" / ".join(parts))
            out.append(f"| {r} | " + " | ".join(cells) + " |")

    out += ["", "CPU time per message, producer + consumer ns (getrusage; a busy-polling "
            "consumer burns its core whether or not messages come):", "",
            "| transport | " + " | ".join(f"{s} B" for s in sizes) + " |",
            "|---|" + "---:|" * len(sizes)]
    for n in names:
        cells = []
        for s in sizes:
            c = by[(n, s)]["cpu_ns_per_msg"]
            cells.append(f"{c['producer']:.0f} + {c['consumer']:.0f}")
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def generic_table(res):
    """Fallback for a benchmark without its own table: one row per entry."""
    rows = ["| entry | figures |", "|---|---|"]
    for e in res.get("results", []) + res.get("baselines", []):
        label = e.get("transport") or e.get("name") or "?"
        figs = ", ".join(f"{k}={v:.4g}" for k, v in e.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool))
        rows.append(f"| {label} | {figs} |")
    return "\n".join(rows)


# ---------------------------------------------------------------- plots

def ring_plot_data(res, path):
    """One gnuplot data block per transport: size, median, min, max msgs/s."""
    entries = res.get("results", []) + res.get("baselines", [])
    names = []
    for e in entries:
        if e["transport"] not in names:
            names.append(e["transport"])
    with open(path, "w") as f:
        for n in names:
            f.write(f"# {n}\n")
            for e in sorted((e for e in entries if e["transport"] == n),
                            key=lambda e: e["size"]):
                f.write(f"{e['size']} {e['msgs_per_s']:.1f} {e['msgs_per_s_min']:.1f} "
                        f"{e['msgs_per_s_max']:.1f}\n")
            f.write("\n\n")
    nring = sum(1 for e in res.get("results", []) if e["size"] == res["params"]["sizes"][0])
    return {"names": " ".join(names), "nring": str(nring)}


# ---------------------------------------------------------------- registry

# name -> how to run it. Later issues add rows; spbench must know the name.
BENCHMARKS = {
    "ring": {
        "what": "shm ring vs pipe(2) and AF_UNIX sockets, two processes on two cores",
        "presets": {
            "quick": ["ring", "--sizes", "64,1024", "--count", "200000", "--reps", "1"],
            "full": ["ring", "--sizes", "16,64,256,1024", "--count", "500000",
                     "--reps", "5"],
        },
        "table": ring_tables,
        "plot": ("ring.gp", ring_plot_data),
    },
    "rtp": {
        "what": "RTP fan-out 1:1/1:4/1:16 and 2000x5 cameras: spdp vs naive forwarder vs loopback",
        "presets": {
            "quick": ["rtp", "--preset", "quick"],
            "full": ["rtp", "--preset", "full"],
        },
        "table": rtp_tables,
    },
    "srtp": {
        "what": "SRTP fan-out 1:4: plain vs passthrough/terminate/protect per suite through spdp, "
                "vs raw libsrtp (srtp-raw, same run)",
        "presets": {
            "quick": ["srtp", "--preset", "quick"],
            "full": ["srtp", "--preset", "full"],
        },
        "table": srtp_tables,
    },
    "turn": {
        "what": "TURN relay: streampoint (spdp + spcp) vs coturn on loopback, same client load: "
                "lossless relayed pps, RTT, server CPU per packet, allocations/s",
        "presets": {
            "quick": ["turn", "--preset", "quick"],
            "full": ["turn", "--preset", "full"],
        },
        "table": turn_tables,
    },
    # A Python script, not an spbench subcommand: it drives real sshd,
    # stunnel4 and socat next to spdp + spagent (root: network namespaces).
    "tunnel": {
        "what": "agent tunnel bulk throughput and CPU per GB: spagent + spdp vs ssh -R vs "
                "stunnel4 vs a plain socat relay vs direct TCP, 1 and 8 agents",
        "script": "benchmarks/tunnel_bench.py",
        "presets": {
            "quick": ["--quick"],
            "full": [],
        },
        "table": tunnel_tables,
    },
}


# ---------------------------------------------------------------- machine

def sh(cmd, cwd=REPO):
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cmake_cache(build_dir, key):
    try:
        for line in (build_dir / "CMakeCache.txt").read_text().splitlines():
            if line.startswith(key + ":"):
                return line.split("=", 1)[1]
    except OSError:
        pass
    return ""


def machine_info(build_dir):
    m = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                m["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    m["nproc"] = os.cpu_count()
    m["nproc_allowed"] = len(os.sched_getaffinity(0))
    m["kernel"] = platform.release()
    try:
        m["debian_version"] = Path("/etc/debian_version").read_text().strip()
    except OSError:
        m["debian_version"] = ""
    try:
        osr = dict(line.split("=", 1) for line in
                   Path("/etc/os-release").read_text().splitlines() if "=" in line)
        m["os"] = osr.get("PRETTY_NAME", "").strip('"')
    except OSError:
        pass
    m["gcc"] = sh(["gcc", "--version"]).split("\n")[0]
    compiler = cmake_cache(build_dir, "CMAKE_C_COMPILER")
    if compiler:
        m["build_compiler"] = sh([compiler, "--version"]).split("\n")[0] or compiler
    m["build_type"] = cmake_cache(build_dir, "CMAKE_BUILD_TYPE")
    m["sanitizers"] = cmake_cache(build_dir, "SP_SANITIZE") in ("ON", "1", "TRUE")
    m["git_commit"] = sh(["git", "rev-parse", "HEAD"])
    # --no-optional-locks: do not refresh the index, other people work here.
    status = sh(["git", "--no-optional-locks", "status", "--porcelain",
                 "--untracked-files=no"])
    m["git_dirty"] = bool(status)
    return m


# ---------------------------------------------------------------- readme

RESULTS_END = "<!-- results:end -->"


def refresh_readme(name, preset, res, json_path, png_path):
    begin = f"<!-- results:{name}:{preset}:begin -->"
    end = f"<!-- results:{name}:{preset}:end -->"
    m = res["machine"]
    rel = json_path.relative_to(BENCH)
    commit = m.get("git_commit", "")[:12] + (" (with uncommitted changes)" if m.get("git_dirty")
                                              else "")
    if m.get("pinned") and "server_cpu" in m:
        pinned = f"servers pinned to CPU {m['server_cpu']}, the tool to CPU {m.get('tool_cpu')}"
    elif m.get("pinned"):
        pinned = f"pinned to CPUs {m.get('producer_cpu')}/{m.get('consumer_cpu')}"
    else:
        pinned = "NOT pinned"
    lines = [begin,
             f"### {name} ({preset} preset), recorded {res['runner']['started_utc']}", "",
             f"- Result: [`{rel}`]({rel})" +
             (f", plot [`{png_path.relative_to(BENCH)}`]({png_path.relative_to(BENCH)})"
              if png_path else ""),
             f"- Command: `{res['runner']['command']}`",
             f"- {'Script' if 'script' in BENCHMARKS[name] else 'spbench'}: `{res['command']}`",
             f"- Machine: {m.get('cpu_model', '?')}, {m.get('nproc')} CPUs ({pinned}), "
             f"kernel {m.get('kernel')}, {m.get('os', 'Debian')} ({m.get('debian_version', '?')}),"
             f" {m.get('build_compiler') or m.get('gcc')} "
             f"{m.get('build_type')}, commit {commit}",
             f"- Noise: load average {res['runner'].get('loadavg_before')} before, "
             f"{res['runner'].get('loadavg_after')} after; other work used "
             f"{100 * res['runner'].get('other_cpu_share', 0):.0f}% of the CPUs during "
             f"the run, the hypervisor stole {100 * res['runner'].get('steal_share', 0):.0f}%",
             ""]
    if png_path:
        lines += [f"![{name}]({png_path.relative_to(BENCH)})", ""]
    table = BENCHMARKS[name].get("table", generic_table)
    lines += [table(res), end]
    block = "\n".join(lines)

    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{RESULTS_END}\n"
    pat = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pat.search(text):
        text = pat.sub(lambda _: block, text)
    elif RESULTS_END in text:
        text = text.replace(RESULTS_END, block + "\n\n" + RESULTS_END, 1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    README.write_text(text)


# ---------------------------------------------------------------- running

def render_plot(name, res, png_path, outdir):
    spec = BENCHMARKS[name].get("plot")
    if not spec:
        return None
    if not shutil.which("gnuplot"):
        print(f"run.py: gnuplot not found, no plot for {name}", file=sys.stderr)
        return None
    script, make_data = spec
    with tempfile.TemporaryDirectory(dir=outdir) as tmp:
        data = Path(tmp) / f"{name}.dat"
        extra = make_data(res, data)
        title = (f"{name} ({res['runner']['preset']}), {res['machine'].get('cpu_model', '')}, "
                 f"{res['runner']['started_utc']}")
        assigns = {"datafile": str(data), "outfile": str(png_path), "titletext": title}
        assigns.update(extra)
        expr = "; ".join(f"{k}='{v.replace(chr(39), '')}'" for k, v in assigns.items())
        p = subprocess.run(["gnuplot", "-e", expr, str(PLOTS / script)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(f"run.py: gnuplot failed for {name}:\n{p.stderr}", file=sys.stderr)
            png_path.unlink(missing_ok=True)
            return None
    return png_path


def cpu_ticks():
    """System-wide (busy, steal) clock ticks from /proc/stat."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...
    busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] if len(f) > 7 else 0)
    return busy, (f[7] if len(f) > 7 else 0)


def other_load(t_before, t_after, ru_before, ru_after, wall_s):
    """CPU the rest of the machine used while we ran, as a share of all CPUs."""
    if not t_before or not t_after or wall_s <= 0:
        return {}
    hz = os.sysconf("SC_CLK_TCK")
    ncpu = os.cpu_count() or 1
    busy_s = (t_after[0] - t_before[0]) / hz
    ours = ((ru_after.ru_utime - ru_before.ru_utime) +
            (ru_after.ru_stime - ru_before.ru_stime))
    return {
        "other_cpu_share": round(max(0.0, busy_s - ours) / (wall_s * ncpu), 3),
        "steal_share": round((t_after[1] - t_before[1]) / hz / (wall_s * ncpu), 3),
    }


def loadavg():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def run_one(name, preset, args, spbench, runner_cmd, outdir, stamp):
    argv = BENCHMARKS[name]["presets"][preset]
    if "script" in BENCHMARKS[name]:
        cmd = ["/usr/bin/python3", BENCHMARKS[name]["script"], "--build-dir",
               os.path.relpath(args.build_dir, REPO)] + argv
    else:
        cmd = [os.path.relpath(spbench, REPO)] + argv
    print(f"run.py: {name} ({preset}): {shlex.join(cmd)}", file=sys.stderr, flush=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = loadavg()
    ticks_before = cpu_ticks()
    ru_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    took = time.monotonic() - t0
    load_after = loadavg()
    others = other_load(ticks_before, cpu_ticks(), ru_before,
                        resource.getrusage(resource.RUSAGE_CHILDREN), took)
    if p.returncode != 0:
        print(f"run.py: {name} FAILED (exit {p.returncode})", file=sys.stderr)
        return False
    try:
        res = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        print(f"run.py: {name} printed no valid JSON: {e}", file=sys.stderr)
        return False
    machine = res.setdefault("machine", {})
    for k, v in machine_info(args.build_dir).items():
        machine.setdefault(k, v)
    res["runner"] = {
        "command": runner_cmd,
        "preset": preset,
        "started_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(took, 2),
        # Other work on the machine skews figures: keep the evidence.
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        # Share of all CPUs busy with something other than this benchmark
        # during the run (from /proc/stat minus our own rusage), and stolen
        # by the hypervisor: high values mean the figures are depressed.
        **others,
        "build_dir": os.path.relpath(args.build_dir, REPO),
    }
    if machine.get("build_type") != "Release" or machine.get("sanitizers"):
        print(f"run.py: warning: {args.build_dir} is a {machine.get('build_type') or '?'}"
              f"{' sanitizer' if machine.get('sanitizers') else ''} build; "
              "real figures need Release", file=sys.stderr)
    base = f"{name}-{preset}-{stamp}"
    json_path = outdir / f"{base}.json"
    json_path.write_text(json.dumps(res, indent=1) + "\n")
    png_path = render_plot(name, res, outdir / f"{base}.png", outdir)
    print(f"run.py: {name} ok in {took:.1f} s -> {os.path.relpath(json_path)}"
          + (f", {os.path.relpath(png_path)}" if png_path else ""), file=sys.stderr)
    if args.record:
        # A build other than build/release (e.g. release-ossl: libsrtp on
        # OpenSSL) keeps its own README section next to the default one.
        variant = Path(args.build_dir).name
        key = preset if variant == "release" else f"{preset}:{variant}"
        refresh_readme(name, key, res, json_path, png_path)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=("quick", "full"), default="quick",
                    help="quick: seconds, what CI runs; full: real figures (minutes)")
    ap.add_argument("--only", default="",
                    help="comma-separated benchmark names (default: all)")
    ap.add_argument("--build-dir", default="build/release",
                    help="CMake build dir holding benchmarks/spbench (default build/release)")
    ap.add_argument("--record", action="store_true",
                    help="keep results in benchmarks/results/ and refresh README.md")
    ap.add_argument("--list", action="store_true", help="list benchmarks and exit")
    args = ap.parse_args()

    if args.list:
        for n, b in BENCHMARKS.items():
            print(f"{n:12} {b['what']}")
        return 0
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"run.py: unknown benchmark(s) {', '.join(unknown)}; "
              f"known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2

    args.build_dir = (REPO / args.build_dir).resolve()
    spbench = args.build_dir / "benchmarks" / "spbench"
    if not os.access(spbench, os.X_OK) and any("script" not in BENCHMARKS[n] for n in names):
        print(f"run.py: {spbench} not found. Build it first, e.g.\n"
              "  cmake --preset release && ninja -C build/release spbench", file=sys.stderr)
        return 2

    outdir = RESULTS if args.record else args.build_dir / "bench-results"
    outdir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    runner_cmd = shlex.join(["python3", os.path.relpath(Path(sys.argv[0]).resolve(), REPO)]
                            + sys.argv[1:])
    failed = [n for n in names
              if not run_one(n, args.preset, args, spbench, runner_cmd, outdir, stamp)]
    if failed:
        print(f"run.py: FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
