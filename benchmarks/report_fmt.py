"""Cell formats shared by the benchmarks' Markdown reports (*_report.py)."""


def rate(v):
    """Packets or operations per second: "1.23 M/s", "456 k/s", "–"."""
    if not v:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    return f"{v / 1e3:.0f} k/s"


def num(v, fmt="{:.2f}"):
    return "–" if v is None else fmt.format(v)


def ratio(v):
    return "–" if v is None else f"×{v:.2f}"
