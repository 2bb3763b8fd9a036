"""The shadow MMU section of `make bench` (imported by bench/run.py): tests/guests/benchshadow.c under shadow paging.

Every backend boots two VMs of that guest after the TDP guests: `benchshadow`, which times its loops, and
`shadowbase`, the same guest with `dry`, which skips the timed loops' bodies and does everything else the same way.
The shadow MMU's counters exist only in each VM's end report ("vm NAME: shadow MMU: ..."), for the whole VM; the
difference benchshadow - shadowbase is what the timed loops caused, and check() holds it to what the guest says it did
(its `bench: NAME: C cycles for N operations` lines). On a CPU with EPT/NPT the two VMs get `tdp=0` on their module
line (shadow paging for them alone, the TDP guests of the same boot keep EPT/NPT); on one without (Core 2 Penryn) the
hypervisor chooses shadow paging itself.
"""
import re

GUEST = "build/guests/"
VM, BASE = "benchshadow", "shadowbase"


def modules(tdp0):
    """The two VMs' module lines; tdp0 adds the per-VM word that selects shadow paging on a CPU with EPT/NPT."""
    word = " tdp=0" if tdp0 else ""
    return [(GUEST + "benchshadow.elf", f"vm={VM} mem=128M{word}"),
            (GUEST + "benchshadow.elf", f'vm={BASE} mem=128M{word} cmdline="dry"')]


EXPECT = [rf"^vm {VM}: MMU: shadow paging", rf"^vm {BASE}: MMU: shadow paging",
          rf"^\[{VM}\] TEST benchshadow PASS", rf"^\[{BASE}\] TEST benchshadow PASS",
          rf"^vm {VM}: ended: debug-exit, status 0x1 ", rf"^vm {BASE}: ended: debug-exit, status 0x1 ",
          rf"^vm {VM}: shadow MMU: \d+ faults", rf"^vm {BASE}: shadow MMU: \d+ faults"]


def parse_report(text):
    """The end report after "shadow MMU: " as {label: count}: every "N words" pair, the ones after "roots:" with
    "roots " in front ("roots: 3 made, 1004 loads" gives "roots made" and "roots loads"). Read by pairs rather than
    by one pattern, so that a counter added to the report does not break the bench."""
    out = {}
    head, _, roots = text.partition("roots:")
    for prefix, part in (("", head), ("roots ", roots)):
        for n, label in re.findall(r"(\d+) ([A-Za-z][A-Za-z -]*?)\s*(?=[,;()]|$)", part):
            out[prefix + label] = int(n)
    return out


# Table rows: (label, BENCH names: one, or (a, b) for a - b, explanation).
ROWS = [
    ("shadow table, first", "shadow_fault_table", "first access through a further guest table: fault, shadow page made"),
    ("shadow fault, first", "shadow_fault_first", "first write to a mapped 4K page (present guest PTE, no SPTE)"),
    ("shadow fault, again", "shadow_fault_again", "the same writes again: no exit"),
    ("shadow fault-in, net", ("shadow_fault_first", "shadow_fault_again"), "one shadow fault: #PF exit, guest walk, "
     "4K shadow leaf, re-enter"),
    ("shadow table alloc", ("shadow_fault_table", "shadow_fault_first"), "making a shadow page and write-protecting "
     "the guest table"),
    ("PTE write, unshadowed", "pte_write_loop", "a MOV into a guest table not shadowed: no exit (the loop)"),
    ("PTE write, remap", "pte_write_zap", "a MOV remapping a touched PTE of a shadowed table"),
    ("PTE write, fill", "pte_write_fill", "a MOV filling an empty PTE of a shadowed table"),
    ("emulated PTE write, net", ("pte_write_zap", "pte_write_loop"), "#PF on the write-protected table, the MOV "
     "emulated, the SPTE zapped"),
    ("emulated PTE fill, net", ("pte_write_fill", "pte_write_loop"), "the same with no SPTE to zap"),
    ("CR3 switch", "cr3_switch", "MOV CR3 to an address space whose root the vCPU caches (1 loop instruction)"),
]

# End-report deltas (benchshadow - shadowbase) and what they must be, from the guest's operation counts:
# (label in the report, row label, function of {BENCH name: operations}).
DELTAS = [
    ("faults", "faults", lambda o: o["shadow_fault_first"] + o["pte_write_zap"] + o["pte_write_fill"]),
    ("emulated PTE writes", "emulated PTE writes", lambda o: o["pte_write_zap"] + o["pte_write_fill"]),
    ("SPTEs zapped", "SPTEs zapped by writes", lambda o: o["pte_write_zap"]),
    ("flooding zaps", "flooding zaps", lambda o: 0),
    ("reflected to the guest", "#PF reflected", lambda o: 0),
    ("retried", "faults retried", lambda o: 0),
    ("shadow pages made", "shadow pages made", lambda o: 0),
    ("roots made", "roots made", lambda o: 0),
    ("roots loads", "root loads", lambda o: o["cr3_switch"]),
    ("roots from the vCPU cache", "root cache hits", lambda o: o["cr3_switch"]),
]


# The TDP figure it is compared with (bench4k: pages=4k, first write to each fresh page) carries 1/512 of clearing
# the page's 2 MiB chunk, which the hypervisor does at the chunk's first fault: 262,144 iterations of `rep stosq`,
# which the emulators count one by one, so 512 per page. benchshadow's pages are cleared before its loops (their
# markers are written through the identity map), so the second ratio leaves the clearing out of the TDP figure.
CLEAR_PER_4K = 2 * 1024 * 1024 // 8 // 512


def ops(res):
    """{BENCH name: operations} from the guest's exact totals."""
    return {k: n for k, (_, n) in res.get(VM, {}).get("total", {}).items()}


def deltas(res):
    """{report label: benchshadow - shadowbase}, or None when either end report is missing."""
    a, b = res.get(VM, {}).get("end"), res.get(BASE, {}).get("end")
    if not a or not b:
        return None
    return {k: a[k] - b[k] for k in a if k in b}


def check(key, res):
    """Problems with one run's deltas: each must be what the guest's loops account for."""
    d, o = deltas(res), ops(res)
    if d is None:
        return [f"{key}: no shadow MMU end report for {VM} and {BASE}"]
    problems = []
    for label, _, want in DELTAS:
        try:
            w = want(o)
        except KeyError as e:
            problems.append(f"{key}: {VM} printed no total for {e}")
            break
        if d.get(label) != w:
            problems.append(f"{key}: shadow MMU '{label}' grew by {d.get(label)} over the timed loops, want {w}")
    return problems


def print_section(backends, first, per_op, tdp_fault, fmt, w0, w):
    """The table (instructions per operation, backends side by side), the ratio to the TDP 4K fault-in, and the
    end-report deltas. per_op(key, guest, name) and tdp_fault(key) give instructions per operation or None."""
    def value(key, spec):
        if isinstance(spec, tuple):
            x, y = (per_op(key, VM, s) for s in spec)
            return None if x is None or y is None else x - y
        return per_op(key, VM, spec)

    print("shadow MMU cost (tests/guests/benchshadow.c)")
    print(f"{'instructions per op':<{w0}}" + "".join(f"{b[1]:>{w}}" for b in backends) + "   what")
    for label, spec, what in ROWS:
        print(f"{label:<{w0}}" + "".join(f"{fmt(value(b[0], spec)):>{w}}" for b in backends) + f"   {what}")
    net = {b[0]: value(b[0], ROWS[3][1]) for b in backends}
    tdp = {b[0]: tdp_fault(b[0]) for b in backends}
    print(f"{'TDP 4K RAM fault-in':<{w0}}" + "".join(f"{fmt(tdp[b[0]]):>{w}}" for b in backends)
          + "   the same backend's EPT/NPT figure (bench4k above); - where there is none")
    print(f"{'shadow / TDP':<{w0}}" + "".join(
        f"{fmt(net[b[0]] / tdp[b[0]] if net[b[0]] and tdp[b[0]] else None, 2):>{w}}" for b in backends)
        + "   shadow fault-in, net / TDP 4K RAM fault-in")
    print(f"{'shadow / TDP, no clearing':<{w0}}" + "".join(
        f"{fmt(net[b[0]] / (tdp[b[0]] - CLEAR_PER_4K) if net[b[0]] and tdp[b[0]] else None, 2):>{w}}"
        for b in backends) + f"   the same, the TDP figure less its {CLEAR_PER_4K} instructions of chunk clearing")
    print()
    print(f"shadow MMU counter deltas over the timed loops ({VM} - {BASE}, from the VMs' end reports)")
    print(f"{'counter':<{w0 + 6}}" + "".join(f"{b[1]:>{w}}" for b in backends) + "   want")
    for label, row, want in DELTAS:
        cells, wants = [], set()
        for b in backends:
            d = deltas(first[b[0]])
            cells.append("-" if d is None or label not in d else f"{d[label]:,}")
            try:
                wants.add(want(ops(first[b[0]])))
            except KeyError:
                pass
        print(f"{row:<{w0 + 6}}" + "".join(f"{c:>{w}}" for c in cells) + "   "
              + ", ".join(f"{x:,}" for x in sorted(wants)))
    print()
