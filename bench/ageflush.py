"""The TLB flush after aging (age_flush=on|off, mm/mmu.h; issue 12): what it buys in accuracy and what it costs.

tests/guests/ageflush.c, the same pair of VMs the integration cases run (suite.ageflush_modules): vCPU 1 keeps 8 hot
pages in use without ever leaving the guest, 8 cold pages stay untouched, and vCPU 0 reads the working-set report
after each scan (ws=10ms, 4K leaves). Per backend and policy: the hot page-scans reported idle (false-idle) and the
cold ones reported young, the flushes per aging pass, the cycles vCPU 1 lost per pass to interruptions (the flush's
exit, and without EPT A/D the access-tracking faults that follow it: the guest-side cost), and vCPU 0's scan time.
Bochs counts one TSC cycle per instruction, so its cycles are instructions; QEMU runs on wall time (an SMP VM under
-icount does not start), so its cycles are host noise and only its counts are shown. Penryn has no EPT: shadow paging,
the shadow engine's rmap walk, and the flush is an INVVPID.
"""
import re

import suite  # noqa: E402  (tests/integration, on the path run.py sets)

# (key, column heading, Case keyword arguments)
BACKENDS = [
    ("bochs-vmx", "Bochs skylake", dict(emulator="bochs", cpu="corei7_skylake_x", megs=512, timeout=900)),
    ("bochs-vmx-noad", "Bochs sandy", dict(emulator="bochs", cpu="corei7_sandy_bridge_2600k", megs=512,
                                           timeout=900)),
    ("bochs-penryn", "Bochs penryn", dict(emulator="bochs", cpu="core2_penryn_t9600", megs=512, timeout=900)),
    ("qemu-svm", "QEMU TCG max", dict(emulator="qemu", cpu="max", mem="512M", timeout=300)),
]
CMDLINE = "loglevel=6 hv.panic=poweroff"


def cases():
    """[(key, heading, Case)]: one boot per backend, both policies in it (two VMs, one after the other)."""
    out = []
    for key, head, kw in BACKENDS:
        kw = dict(kw)
        bochs = kw["emulator"] == "bochs"
        out.append((key, head, suite.Case(f"bench-ageflush-{key}", cmdline=CMDLINE, cpus=2,
                                          modules=suite.ageflush_modules(idle=bochs),
                                          expect=suite.AGEFLUSH_EXPECT, forbid=suite.AGEFLUSH_FORBID, **kw)))
    return out


def parse(log):
    """{"on"|"off": {RESULT field: int, "scan_kcycles": per scan}} from the two VMs' lines."""
    out = {}
    names = {"afon": "on", "afoff": "off"}
    for line in log.splitlines():
        m = re.match(r"^\[(afon|afoff)\] ageflush: RESULT (.*)$", line)
        if m:
            out.setdefault(names[m.group(1)], {}).update(
                {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))})
            continue
        m = re.match(r"^vm (afon|afoff): working set: (\d+) scans took (\d+) kcycles in all$", line)
        if m:
            out.setdefault(names[m.group(1)], {})["scan_kcycles"] = int(m.group(3)) / int(m.group(2))
    return out


def print_section(results, heads, fmt, w0=26, w=15):
    """results: {key: parse() of its log}. Prints the table; returns the problems (missing figures)."""
    keys = [k for k, _, _ in BACKENDS if k in results]
    problems = [f"ageflush {k}: no RESULT line for age_flush={p}" for k in keys for p in ("on", "off")
                if "counted" not in results[k].get(p, {})]
    print("TLB flush after aging (tests/guests/ageflush.c: 8 hot pages in use on vCPU 1, which never exits; 8 cold)")
    print(f"{'per aging pass':<{w0}}" + "".join(f"{heads[k]:>{w}}" for k in keys) + "   what")

    def cell(k, pol, f):
        r = results[k].get(pol, {})
        try:
            return f(r)
        except (KeyError, ZeroDivisionError, TypeError):
            return "-"

    bochs = {k: dict(kw)["emulator"] == "bochs" for k, _, kw in BACKENDS}
    rows = [
        ("false-idle, flush off", "off", lambda r: f"{r['false_idle']}/{r['counted'] * r['hot']}",
         "hot page-scans reported idle (not seen young by the scan after their use)"),
        ("false-idle, flush on", "on", lambda r: f"{r['false_idle']}/{r['counted'] * r['hot']}", "the same, age_flush=on"),
        ("false-young, off/on", None, None, "cold page-scans reported young (never: aging loses no A clear)"),
        ("flushes, on", "on", lambda r: fmt(r["flushes"] / r["passes"], 2), "TLB flush requests per pass (off: 0)"),
        ("vCPU 1 interruptions, on", "on", lambda r: fmt(r["ap_gaps"] / r["passes"], 1),
         "its passes over the hot set that took over 400 cycles, per aging pass"),
        ("vCPU 1 cycles lost, on", "on", lambda r: fmt(r["ap_gap_cycles"] / r["passes"], 0),
         "their cycles per aging pass: the flush's exit (+ access-tracking faults)"),
        ("vCPU 1 cycles lost, off", "off", lambda r: fmt(r["ap_gap_cycles"] / r["passes"], 0), "the same without"),
        ("vCPU 0 scan, on", "on", lambda r: fmt(r["scan_kcycles"] * 1000, 0),
         "cycles per scan of the 16 MiB VM (the flush request included)"),
        ("vCPU 0 scan, off", "off", lambda r: fmt(r["scan_kcycles"] * 1000, 0), "the same without"),
    ]
    for label, pol, f, what in rows:
        cells = []
        for k in keys:
            if pol is None:
                c = f"{cell(k, 'off', lambda r: r['false_young'])}/{cell(k, 'on', lambda r: r['false_young'])}"
            elif label.startswith("vCPU") and not bochs[k]:
                c = "(wall)"
            else:
                c = cell(k, pol, f)
            cells.append(c)
        print(f"{label:<{w0}}" + "".join(f"{c:>{w}}" for c in cells) + f"   {what}")
    print()
    return problems
