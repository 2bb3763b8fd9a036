"""The one check of a serial log against expected and forbidden lines, for the integration runner, the Linux and
disk/network checks and the benchmarks' boots (each imports it through sys.path)."""
import re


def forbidden_line(log, m):
    """The whole line a forbidden pattern matched in, as the report shows it."""
    start = log.rfind("\n", 0, m.start()) + 1
    end = log.find("\n", m.end())
    return log[start:] if end < 0 else log[start:end]


def log_problems(log, expect, forbid, ordered=True):
    """Every problem with log: each pattern of expect that does not match (after the previous one's match when
    ordered), and each pattern of forbid that does. Patterns are multiline regular expressions."""
    problems, pos = [], 0
    for pat in expect:
        m = re.compile(pat, re.M).search(log, pos)
        if not m:
            problems.append(f"missing line /{pat}/")
        elif ordered:
            pos = m.end()
    for pat in forbid:
        m = re.search(pat, log, re.M)
        if m:
            problems.append(f"forbidden line: {forbidden_line(log, m).strip()!r}")
    return problems
