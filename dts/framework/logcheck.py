"""Log checks run on every process the framework started, as nginx-tests do.

A sanitizer report (ASan, UBSan, LSan, TSan) always fails the test. A log
line at syslog level err or worse (our prefixes "<0>".."<3>") fails it too,
unless it matches one of the regexes the suite declared as expected.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Pattern

SANITIZER_RE = re.compile(
    r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|"
    r"WARNING: ThreadSanitizer|ERROR: ThreadSanitizer|ERROR: MemorySanitizer")
ALERT_RE = re.compile(r"^<([0-3])>")


def compile_allowed(patterns: Iterable[str | Pattern]) -> list[Pattern]:
    return [p if isinstance(p, re.Pattern) else re.compile(p) for p in patterns]


def scan_text(text: str, allowed: Iterable[Pattern] = (), source: str = "") -> list[str]:
    """Problems found in a log's text, one string each (empty when clean)."""
    allowed = list(allowed)
    where = f"{source}: " if source else ""
    problems = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if SANITIZER_RE.search(line):
            report = "\n".join(lines[i:i + 25])
            problems.append(f"{where}sanitizer report at line {i + 1}:\n{report}")
            break  # one report is enough; the rest is its stack
    for i, line in enumerate(lines):
        if ALERT_RE.match(line) and not any(p.search(line) for p in allowed):
            problems.append(f"{where}unexpected error line {i + 1}: {line}")
    return problems


def scan_file(path: Path, allowed: Iterable[Pattern] = ()) -> list[str]:
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return []
    return scan_text(text, allowed, str(path))


def tail(path: Path, n: int = 30) -> str:
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(lines[-n:])
