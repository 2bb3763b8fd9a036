#!/usr/bin/env python3
"""`make bench`: exit and TDP-fault costs of the hypervisor, counted in guest instructions, on three emulated CPUs.

One ISO holds the hypervisor and two guests run one after the other (hv.cpus=1): tests/guests/bench.c (CPUID, OUT,
hypercall, first touch of 4K pages and of 2M frames) and tests/guests/benchfault.c (the same fault costs net of the
loop, and the 4K fault path through MMIO SPTEs). The guests time loops with rdtsc. That clock counts instructions:
  Bochs      the TSC advances by one per emulated instruction (clock: sync=none), on each of its two CPU models;
  QEMU TCG   -icount shift=S,sleep=off makes the virtual TSC advance 2^S per instruction, so deltas / 2^S are
             instruction counts (S=0 by default: the figures come out as they do under Bochs).
Every configuration boots twice and the two sets of figures must be identical. The output is one table, backends side
by side, then the counter deltas that show which page size the faults mapped, then host-side sizes in bytes: the
hypervisor image and the TDP page-table memory per GiB of guest RAM. See bench/README.md for what each figure means.

The same boots then run tests/guests/benchshadow.c under shadow paging (bench/shadow.py): two VMs with tdp=0 on their
module lines (the guest, and its dry run, whose end report is subtracted), and a fourth backend, Bochs
core2_penryn_t9600, which has no EPT, boots that pair alone. Its table gives one shadow fault-in, one emulated guest
PTE write and one cached-root CR3 switch, with the ratio to the same backend's TDP 4K fault-in, and checks the shadow
MMU's counter deltas against the operations the guest timed.

Then the Linux section (bench/linux.py): Debian's kernel with the busybox initramfs of tests/linux, booted natively
and under the hypervisor in the same emulator, and the guest's BENCH lines (time to userspace, 200 fork+exec, a tmpfs
memory pass) compared as ratios hypervisor / native, in virtual time: QEMU TCG -icount shift=0,sleep=off (one guest
nanosecond per instruction), twice each, and Bochs corei7_skylake_x (one TSC tick per instruction), once each. The
whole bench takes about 4.5 minutes of wall time on 2 host CPUs; --no-bochs-linux or BENCH_BOCHS_LINUX=0
(`make bench BENCH_BOCHS_LINUX=0`) leaves the Bochs Linux boots out, which makes it about 1.5 minutes.

Then the TLB flush after aging (bench/ageflush.py): tests/guests/ageflush.c with age_flush=on and off, one boot per
backend (Bochs Skylake, Sandy Bridge and Penryn, QEMU), for the accuracy of the working-set report and its cost.

Then the network (bench/net.py): TCP between two Linux VMs on one virtual switch, in instructions per byte, under the
hypervisor and natively (two plain QEMUs), from the difference of two transfer sizes.

Then the disk (bench/disk.py): direct reads and writes of one Linux VM's virtio-blk disk, in instructions per byte,
under the hypervisor and natively (plain QEMU's virtio-blk), from the difference of two pass counts.

  bench/run.py [--runs 2] [--only REGEX] [--qemu-shift 0] [--jobs N] [--section all|exits|linux|ageflush|net|disk]
               [--no-bochs-linux] [--linux-runs 2] [--bochs-linux-runs 1]

Exit status: 0 when every run passed and every pair of runs agreed, 1 otherwise. Logs: build/bench/*.serial.log.
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ next to the sources imported below
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import runner  # noqa: E402  (build_iso, the emulator command lines, run_case)
import suite  # noqa: E402
sys.path.insert(0, HERE)
import linux  # noqa: E402  (the Linux section: bench/linux.py)
sys.path.insert(0, os.path.join(HERE, "kvm"))
import peer  # noqa: E402  (Linux KVM as the peer: bench/kvm/peer.py)
import shadow  # noqa: E402  (the shadow MMU section: bench/shadow.py)
import ageflush  # noqa: E402  (the TLB flush after aging: bench/ageflush.py)
import net  # noqa: E402  (TCP between two VMs, instructions per byte: bench/net.py)
import disk  # noqa: E402  (virtio-blk reads and writes, instructions per byte: bench/disk.py)

runner.OUT = os.path.join(ROOT, "build", "bench")  # run_case writes NAME.serial.log and NAME.emulator.log here
GUEST = "build/guests/"
# One CPU runs the VMs in turn: nothing else on the clock. hv.shadow_unsync=0 for the shadow rows (benchshadow): a
# store to a shadowed table is then trapped and emulated, the cost those rows measure; with unsync tables (the
# default) the same stores run natively and are paid for at the next sync (the Linux section measures that).
CMDLINE = "loglevel=6 hv.panic=poweroff hv.cpus=1 hv.shadow_unsync=0"
# BENCH_HV_ARGS adds hypervisor options to every boot, e.g. "hv.apicv=0" for the APIC rows' emulated path.
CMDLINE += (" " + os.environ["BENCH_HV_ARGS"]) if os.environ.get("BENCH_HV_ARGS") else ""
# bench4k is the same guest with pages=4k: the TDP MMU may only map 4K leaves, so every first touch of a 4K page of
# RAM is one TDP fault, which gives the real 4K fault-in cost.
MODULES = [(GUEST + "bench.elf", "vm=bench mem=128M"), (GUEST + "benchfault.elf", "vm=benchfault mem=128M"),
           (GUEST + "bench.elf", "vm=bench4k mem=128M pages=4k")]
EXPECT = [r"^\[bench\] TEST bench PASS", r"^\[benchfault\] TEST benchfault PASS", r"^\[bench4k\] TEST bench PASS",
          r"^vm bench: ended: debug-exit, status 0x1 ", r"^vm benchfault: ended: debug-exit, status 0x1 ",
          r"^vm bench: MMU: TDP ", r"^vm benchfault: MMU: TDP ", r"^vm bench4k: MMU: TDP "]
# Aging (tests/guests/benchage.c): the same guest with 2M leaves and with 4K ones (pages=4k).
AGE_MODULES = [(GUEST + "benchage.elf", "vm=benchage mem=128M"),
               (GUEST + "benchage.elf", "vm=benchage4k mem=128M pages=4k")]
AGE_EXPECT = [r"^\[benchage\] TEST benchage PASS", r"^\[benchage4k\] TEST benchage PASS",
              r"^vm benchage: MMU: TDP ", r"^vm benchage4k: MMU: TDP "]
FORBID = suite.GUEST_NEVER + [r"BENCH \S+ SKIP", r"bench: FAIL"]
# A backend with EPT/NPT boots the TDP guests and then the shadow MMU's pair with tdp=0 on their module lines (the
# shadow VMs come last, so the TDP figures are those of the boot without them); Penryn, which has no EPT, only the
# pair, and the hypervisor chooses shadow paging for it.
TDP_SET = (MODULES + AGE_MODULES + shadow.modules(tdp0=True),
           EXPECT + AGE_EXPECT + shadow.EXPECT + [r"^hv: all VMs have ended"])
# Skylake with hv.ept_ad=0: EPT without A/D bits, so aging access-tracks; the aging guests alone.
NOAD_SET = (AGE_MODULES, AGE_EXPECT + [r"^vm benchage: MMU: TDP \(EPT without A/D\)", r"^hv: all VMs have ended",
                                       r"^\[benchage\] bench: age: access tracking"])
# hv.rsb_fill=0: the exit paths without their return-stack-buffer refill, the bench guest alone, only so that the
# hardening's cost can be printed (HARDENING_ROWS); never a configuration to run guests in.
NORSB_SET = ([(GUEST + "bench.elf", "vm=bench mem=128M")],
             [r"^\[bench\] TEST bench PASS", r"^vm bench: ended: debug-exit, status 0x1 ", r"^hv: all VMs have ended",
              r"RSB refill after VM exits turned off"])
SHADOW_SET = (shadow.modules(tdp0=False), shadow.EXPECT + [r"MMU: shadow paging \(the CPU has no EPT\)",
                                                           r"^hv: all VMs have ended"])

# (key, column heading, what it is, Case keyword arguments, (modules, expect), whether the TDP guests run)
BACKENDS = [
    ("bochs-vmx", "Bochs skylake", "Bochs corei7_skylake_x: VMX, EPT (4-level, 2M/1G, A/D), VPID; "
     "benchshadow: tdp=0, VMX without EPT",
     dict(emulator="bochs", cpu="corei7_skylake_x", megs=512, timeout=600), TDP_SET, True),
    ("bochs-svm", "Bochs zambezi", "Bochs zambezi: SVM, NPT, NRIPS, FlushByASID; benchshadow: tdp=0, SVM without NPT",
     dict(emulator="bochs", cpu="zambezi", megs=512, timeout=600), TDP_SET, True),
    ("qemu-svm", "QEMU TCG max", "QEMU TCG -cpu max -icount: SVM, NPT; no NRIPS, no FlushByASID; "
     "benchshadow: tdp=0, SVM without NPT",
     dict(emulator="qemu", cpu="max", mem="512M", timeout=180), TDP_SET, True),
    ("bochs-vmx-noad", "Bochs skl noAD", "Bochs corei7_skylake_x with hv.ept_ad=0: EPT without A/D, aging by "
     "access tracking; benchage only",
     dict(emulator="bochs", cpu="corei7_skylake_x", megs=512, timeout=600, cmdline=CMDLINE + " hv.ept_ad=0"),
     NOAD_SET, False),
    ("bochs-vmx-norsb", "Bochs skl noRSB", "Bochs corei7_skylake_x with hv.rsb_fill=0: no RSB refill after exits; "
     "bench only, for the hardening table",
     dict(emulator="bochs", cpu="corei7_skylake_x", megs=512, timeout=600, cmdline=CMDLINE + " hv.rsb_fill=0"),
     NORSB_SET, False),
    ("qemu-svm-norsb", "QEMU noRSB", "QEMU TCG -cpu max with hv.rsb_fill=0: no RSB refill after exits; bench only, "
     "for the hardening table",
     dict(emulator="qemu", cpu="max", mem="512M", timeout=180, cmdline=CMDLINE + " hv.rsb_fill=0"), NORSB_SET, False),
    ("bochs-penryn", "Bochs penryn", "Bochs core2_penryn_t9600: VMX without EPT, VPID or the EFER/PAT controls "
     "(MSR lists): shadow paging chosen by the probe; benchshadow only",
     dict(emulator="bochs", cpu="core2_penryn_t9600", megs=512, timeout=600), SHADOW_SET, False),
]

# Table rows: (label, guest, BENCH name or a function of the results, explanation).
EXIT_ROWS = [
    ("empty loop", "bench", "loop", "one iteration of the measuring loop (included in the rows below)"),
    ("CPUID exit", "bench", "cpuid", "CPUID leaf 0: exit, dispatch, emulate, skip, re-enter"),
    ("OUT exit", "bench", "pio_out", "OUT to the test device's unused port 0x5fc"),
    ("hypercall", "bench", "hypercall", "VMCALL/VMMCALL NOP"),
    ("hypercall, unknown", "bench", "hypercall_unknown", "VMCALL/VMMCALL 0x7fff: -ENOSYS, no more than the NOP"),
    ("xAPIC EOI write", "bench", "apic_eoi", "MOV store to the EOI register, nothing in service (vm/lapic_eoi.c)"),
    ("self-IPI", "bench", "self_ipi", "xAPIC ICR self-IPI: delivery, the guest's handler and its EOI"),
    ("timer tick", "bench", "timer", "WRMSR TSC_DEADLINE (already due), the interrupt, the handler and its EOI"),
    ("timer tick, host timer", "bench", "timer_hw", "deadline 3000 ahead, guest spinning: all but the spin (both exits, delivery, handler)"),
    ("4K first touch", "bench", "fault_4k", "first write to each of 1000 fresh 4K pages (2 faults: see deltas)"),
    ("2M first touch", "bench", "fault_2m", "first write to each of 32 fresh 2M frames (one fault each)"),
    ("4K RAM fault-in", "bench4k", "fault_4k", "pages=4k: first write to each of 1000 fresh 4K pages, one fault each"),
]
FAULT_ROWS = [
    ("2M RAM, first", "benchfault", "ram2m_first", "first write per fresh 2M frame: one TDP fault, 2M leaf"),
    ("2M RAM, again", "benchfault", "ram2m_again", "the same writes again: no exit"),
    ("= 2M fault-in", "benchfault", ("ram2m_first", "ram2m_again"), "net cost of one 2M TDP fault round trip"),
    ("2M RAM, refault", "benchfault", "ram2m_refault", "the same writes after HC_UNMAP: a 2M fault, chunk already clear"),
    ("= 2M fault, no clearing", "benchfault", ("ram2m_refault", "ram2m_again"),
     "net cost of the 2M fault round trip without clearing its 2 MiB"),
    ("HC_NOP round trip", "benchfault", "hc_nop", "the same VM's cheapest exit: hypercall NOP, same loop state"),
    ("= 2M fault handling", "benchfault", ("ram2m_refault", "hc_nop"),
     "refault - HC_NOP: the 2M fault without clearing or exit round trip (as 4K fault-in)"),
    ("= 2M chunk clearing", "benchfault", ("ram2m_first", "ram2m_refault"),
     "clearing 2 MiB of guest RAM on first use (memslot_prepare, before the lock)"),
    ("4K MMIO, new table", "benchfault", "mmio4k_table", "first read in a fresh 2M of unbacked space"),
    ("4K MMIO, first", "benchfault", "mmio4k_first", "first read of a page: 4K MMIO SPTE installed, read emulated"),
    ("4K MMIO, again", "benchfault", "mmio4k_again", "cached MMIO SPTE: straight to the emulator"),
    ("= 4K fault-in", "benchfault", ("mmio4k_first", "mmio4k_again"), "net cost of the TDP fault at 4K level"),
    ("= 4K table alloc", "benchfault", ("mmio4k_table", "mmio4k_first"), "net cost of allocating a 4K table"),
    ("4K MMIO, refill", "benchfault", "mmio4k_refill", "as new table, over 16 regions holding a table-cache refill"),
    ("= table zeroing", "benchfault", lambda res, scale: refill_per_frame(res, scale),
     "per frame of a table-cache refill (allocate, clear 4 KiB; before the lock)"),
]
# What the speculation hardening costs per exit: the same rows with and without the RSB refill (hv.rsb_fill=0),
# from the backend and its -norsb twin in the same run.
HARDENING_ROWS = [("CPUID exit", "cpuid"), ("OUT exit", "pio_out"), ("hypercall", "hypercall"),
                  ("timer tick, host timer", "timer_hw")]
# Aging: instructions per gfn of the region (HC_AGE net of its call), per 4K page touched, per access-tracking fault.
AGE_ROWS = [
    ("HC_AGE call", "benchage4k", "age_call", "HC_AGE of 2 MiB nothing maps: the round trip and an empty walk"),
    ("4K: age, per gfn", "benchage4k", "age_young", "16 MiB of young 4K leaves aged (net of the call)"),
    ("4K: walk, per gfn", "benchage4k", "age_old", "the same, nothing young: the walk alone"),
    ("2M: age, per gfn", "benchage", "age_young", "16 MiB of young 2M leaves aged (net of the call)"),
    ("2M: walk, per gfn", "benchage", "age_old", "the same, nothing young"),
    ("2M: age, per leaf", "benchage", "age_young_leaf", "the young age per 2M leaf"),
    ("4K touch, young", "benchage4k", "touch_young", "a write per 4K page, leaves young: no exit"),
    ("4K touch, aged", "benchage4k", "touch_aged", "the same after an age: A set again, or an access-track fault"),
    ("= acc-track fault", "benchage4k", "acc_track_fault", "per 4K leaf: the exit and the lockless restore"),
    ("2M acc-track fault", "benchage", "acc_track_fault", "per 2M leaf (the other 511 pages: no exit)"),
]
# Counter deltas shown per phase: (guest, phase, counters).
DELTA_ROWS = [
    ("bench", "fault_4k", "1000 x 4K first touch"),
    ("bench", "fault_2m", "32 x 2M first touch"),
    ("bench4k", "fault_4k", "1000 x 4K, pages=4k"),
    ("benchfault", "ram2m_first", "32 x 2M first write"),
    ("benchfault", "ram2m_again", "32 x 2M again"),
    ("benchfault", "ram2m_refault", "32 x 2M refault"),
    ("benchfault", "hc_nop", "32 x HC_NOP"),
    ("benchfault", "mmio4k_table", "8 x new 2M of MMIO"),
    ("benchfault", "mmio4k_first", "64 x 4K MMIO first"),
    ("benchfault", "mmio4k_again", "64 x 4K MMIO again"),
    ("benchfault", "mmio4k_refill", "16 x new 2M, refill"),
]
# ours / KVM: (label, our guest, our spec, the peer's spec, what); specs as in the rows above.
PEER_ROWS = [
    ("empty loop", "bench", "loop", "loop", "one iteration of the loop (in every row)"),
    ("CPUID", "bench", "cpuid", "cpuid", "CPUID leaf 0: exit, emulate, skip, re-enter"),
    ("hypercall", "bench", "hypercall", "hypercall",
     "VMCALL/VMMCALL: our HC_NOP; KVM: number 0, answered -ENOSYS in the kernel"),
    ("OUT exit", "bench", "pio_out", "pio_out", "OUT to port 0x5fc: our port bus; KVM: an ioeventfd, in the kernel"),
    ("cached MMIO read", "benchfault", "mmio4k_again", "mmio_ioapic",
     "emulated and answered in the hypervisor: ours unbacked (all ones), KVM its in-kernel IOAPIC"),
    ("  KVM via its VMM", "benchfault", "mmio4k_again", "mmio4k_again",
     "the same unbacked read; KVM completes it in the VMM (KVM_EXIT_MMIO)"),
    ("TDP fault at 4K", "benchfault", ("mmio4k_first", "mmio4k_again"), ("mmio4k_first", "mmio4k_again"),
     "net: first - again"),
    ("4K table alloc", "benchfault", ("mmio4k_table", "mmio4k_first"), ("mmio4k_table", "mmio4k_first"),
     "net: new table - first; KVM's cache refill excluded (its repeats)"),
]
DELTA_KEYS = [("TDP_FAULTS", "faults"), ("TDP_MAPPED_4K", "4K"), ("TDP_MAPPED_2M", "2M"), ("TDP_MAPPED_1G", "1G"),
              ("MMIO_EXITS", "mmio"), ("TDP_TABLES", "tables"), ("TDP_CACHE_ZEROED", "zeroed")]


def make_case(key, kw, vm_set, run, shift):
    modules, expect = vm_set
    kw = dict(kw)
    cmdline = kw.pop("cmdline", CMDLINE)
    case = suite.Case(f"bench-{key}-run{run}", cmdline=cmdline, cpus=2, modules=modules, expect=expect,
                      forbid=FORBID, **kw)
    if case.emulator == "qemu":
        case.icount = f"shift={shift},sleep=off"
    return case


def parse(log):
    """{guest: {"bench": {name: cycles per op}, "total": {name: (cycles, ops)}, "delta": {phase: {STAT: n}},
    "end": {shadow MMU counter: n}}}: the guest's own lines, and the shadow MMU's counts from the VM's end report."""
    out = {}
    for line in log.splitlines():
        e = re.match(r"^vm (\w+): shadow MMU: (.*)$", line)
        if e:
            # The report takes two lines (the second: sharing and flooding counts): merge, do not replace.
            out.setdefault(e.group(1), {"bench": {}, "total": {}, "delta": {}, "end": {}})["end"].update(
                shadow.parse_report(e.group(2)))
            continue
        m = re.match(r"^\[(\w+)\] (.*)$", line)
        if not m:
            continue
        g = out.setdefault(m.group(1), {"bench": {}, "total": {}, "delta": {}, "end": {}})
        text = m.group(2)
        b = re.match(r"^BENCH (\S+) (\d+\.\d)$", text)
        if b:
            g["bench"][b.group(1)] = float(b.group(2))
            continue
        t = re.match(r"^bench: (\w+): (\d+) cycles for (\d+) operations$", text)
        if t:
            g["total"][t.group(1)] = (int(t.group(2)), int(t.group(3)))
            continue
        d = re.match(r"^bench: (\w+): ((?:\w+ \+\d+ ?)+)$", text)
        if d:
            g["delta"][d.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+) \+(\d+)", d.group(2))}
    return out


def refill_per_frame(res, scale):
    """What one frame of a table-cache refill costs (mm/frame_cache.h): the refill row less as many table rows,
    over the frames the refill cleared (the TDP_CACHE_ZEROED delta)."""
    g = res.get("benchfault", {})
    try:
        (tr, nr), (tt, nt) = g["total"]["mmio4k_refill"], g["total"]["mmio4k_table"]
        zeroed = g["delta"]["mmio4k_refill"]["TDP_CACHE_ZEROED"]
    except KeyError:
        return None
    return (tr - nr * tt / nt) / zeroed / scale if zeroed else None


def per_op(res, guest, name, scale):
    """Instructions per operation: from the exact total when the guest printed one, else from the BENCH line."""
    g = res.get(guest, {})
    if name in g.get("total", {}):
        cycles, ops = g["total"][name]
        return cycles / ops / scale
    if name in g.get("bench", {}):
        return g["bench"][name] / scale
    return None


def fmt(v, digits=1):
    return "-" if v is None else f"{v:,.{digits}f}"


def tdp_table_pages(ranges, leaf_level):
    """Page-table pages (4 KiB each) a 4-level EPT/NPT needs to map the byte ranges with leaves of leaf_level
    (1 = 4K, 2 = 2M, 3 = 1G): one table per distinct naturally aligned span at each level from leaf_level up."""
    pages = 0
    for level in range(leaf_level, 5):  # the table at `level` holds 512 entries of 4K * 512^(level-1) each
        span = 4096 * 512 ** level
        idx = set()
        for start, end in ranges:
            idx.update(range(start // span, (end - 1) // span + 1))
        pages += len(idx)
    return pages


def guest_layout(mem):
    """The hypervisor's guest-physical RAM (vm/launch.c add_ram): up to 3 GiB at 0, the rest from 4 GiB."""
    low = min(mem, 3 << 30)
    return [(0, low)] + ([(4 << 30, (4 << 30) + mem - low)] if mem > low else [])


def host_lines():
    lines = []
    elf = os.path.join(ROOT, "build", "hv.elf")
    p = subprocess.run(["size", elf], capture_output=True, text=True)
    rows = p.stdout.split("\n")
    if p.returncode == 0 and len(rows) > 1:
        text, data, bss, dec = (int(x) for x in rows[1].split()[:4])
        lines.append(f"hypervisor image (size build/hv.elf): text {text:,} B (code + rodata), data {data:,} B, "
                     f"bss {bss:,} B; {dec:,} B in all")
    else:
        lines.append(f"hypervisor image: `size {elf}` failed: {p.stderr.strip()}")
    gib = 1 << 30
    lines.append("TDP page tables (4 KiB pages of EPT/NPT entries; the only per-mapping metadata the TDP MMU keeps):")
    lines.append(f"  {'guest RAM':<22}{'1G leaves':>14}{'2M leaves':>14}{'4K leaves':>16}")
    for label, mem in (("128 MiB (the bench VM)", 128 << 20), ("1 GiB", gib), ("4 GiB", 4 * gib),
                       ("64 GiB", 64 * gib)):
        cells = []
        for level in (3, 2, 1):
            if level == 3 and mem % gib:
                cells.append("-")
                continue
            cells.append(f"{tdp_table_pages(guest_layout(mem), level) * 4096:,} B")
        lines.append(f"  {label:<22}{cells[0]:>14}{cells[1]:>14}{cells[2]:>16}")
    # Each further GiB (within one 512 GiB PDPT): 1G leaves add one 8-byte PDPTE, 2M leaves one PD page, 4K leaves one
    # PD page and 512 PT pages.
    per = {3: 8, 2: 4096, 1: 513 * 4096}
    lines.append(f"  {'each further GiB':<22}{per[3]:>12,} B{per[2]:>12,} B{per[1]:>14,} B"
                 f"   (4K: {per[1] / gib * 100:.3f}% of the RAM mapped; 2M: {per[2] / gib * 100:.5f}%)")
    lines.append("  plus, per memslot, 8 B per 2 MiB chunk (the backing array: 4,096 B per GiB) and 1 B per GiB")
    # Measured on the real code by a unit test (tests/unit/test_track_sizes.c), not computed here.
    tool = os.path.join(ROOT, "build", "unit", "test_track_sizes")
    p = run_unit_tool(tool)
    m = re.search(r"^SIZE track_bytes_per_gib before_first_add=(\d+) after_first_add=(\d+) per_gfn=(\d+)$",
                  p.stdout, re.M)
    if p.returncode == 0 and m:
        lines.append(f"write tracking (mm/track): {int(m.group(1)):,} B per GiB of guest RAM before a VM's first "
                     f"add, {int(m.group(2)):,} B per GiB after it ({m.group(3)} B per 4K gfn, every slot)")
    else:
        lines.append(f"write tracking sizes: {tool} failed (status {p.returncode})")
    # The shadow MMU's rmap heads, measured the same way (tests/unit/test_rmap.c).
    tool = os.path.join(ROOT, "build", "unit", "test_rmap")
    p = run_unit_tool(tool, "rmap_metadata_bytes_per_gib")
    m = re.search(r"^SIZE rmap_bytes_per_gib before_shadow=(\d+) after_shadow=(\d+) per_gfn=(\d+) desc_bytes=(\d+) "
                  r"desc_entries=(\d+)$", p.stdout, re.M)
    if p.returncode == 0 and m:
        lines.append(f"shadow rmap (mm/shadow/rmap): {int(m.group(1)):,} B per GiB of guest RAM before a VM's first "
                     f"shadow use, {int(m.group(2)):,} B per GiB after it ({m.group(3)} B per 4K gfn plus the 2M and "
                     f"1G heads), and a {m.group(4)} B descriptor per {m.group(5)} mappings of a gfn mapped twice or "
                     f"more")
    else:
        lines.append(f"shadow rmap sizes: {tool} failed (status {p.returncode})")
    return lines


def run_unit_tool(tool, *args):
    """Run a unit-test binary that measures sizes, built first as parallel_lines builds its own (a direct run of this
    script has not been through `make bench`, which lists them)."""
    subprocess.run(["make", "-C", ROOT, "--no-print-directory", os.path.relpath(tool, ROOT)], check=True,
                   stdout=subprocess.DEVNULL)
    return subprocess.run([tool, *args], capture_output=True, text=True)


def parallel_lines():
    """TDP faults from 1, 2 and 4 vCPUs at once, the shared MMU lock against the old exclusive one in the same run
    (tests/unit/bench_tdp_parallel.c: host threads over the fake platform, since -icount runs QEMU's CPUs one at a
    time). Throughput is wall-clock, so only the ratios are the result; the host's cores and load are printed."""
    tool = os.path.join(ROOT, "build", "bench", "bench_tdp_parallel")
    subprocess.run(["make", "-C", ROOT, "--no-print-directory", "build/bench/bench_tdp_parallel"], check=True,
                   stdout=subprocess.DEVNULL)
    p = subprocess.run([tool], capture_output=True, text=True)
    rows = {}
    for m in re.finditer(r"^BENCH threads=(\d+) mode=(\w+) faults=(\d+) ms=(\d+) per_thread_per_ms=([\d.]+) "
                         r"read_waits=(\d+) write_waits=(\d+) races=(\d+)$", p.stdout, re.M):
        rows[(int(m.group(1)), m.group(2))] = (float(m.group(5)), int(m.group(6)), int(m.group(7)))
    load = os.getloadavg()[0]
    lines = [f"parallel TDP faults (tests/unit/bench_tdp_parallel.c, NPT format, 4K faults on fresh gfns, host "
             f"threads on {os.cpu_count()} cores, load {load:.1f}): faults per ms per vCPU"]
    if p.returncode != 0 or len(rows) != 6:  # noqa: the six rows of the three vCPU counts
        return lines + [f"  {tool} failed (status {p.returncode})"], False
    lines.append(f"  {'vCPUs':<8}{'exclusive lock':>16}{'shared lock':>14}{'shared/excl':>13}"
                 f"{'write-lock waits (excl/shared)':>34}")
    base = rows[(1, "shared")][0]
    for n in (1, 2, 4):
        ex, sh = rows[(n, "exclusive")], rows[(n, "shared")]
        lines.append(f"  {n:<8}{ex[0]:>16.1f}{sh[0]:>14.1f}{sh[0] / ex[0]:>12.2f}x{ex[2]:>21} / {sh[2]:<10}")
    lines.append(f"  (per vCPU, relative to one vCPU alone: 2 vCPUs {rows[(2, 'shared')][0] / base:.2f} shared, "
                 f"{rows[(2, 'exclusive')][0] / base:.2f} exclusive; more vCPUs than cores share them)")
    age = {m.group(1): float(m.group(2)) for m in re.finditer(r"^AGEBENCH mode=(\w+) faults=\d+ ms=\d+ "
                                                              r"per_ms=([\d.]+) passes=\d+$", p.stdout, re.M)}
    if len(age) != 3 or not age["none"]:
        return lines + ["  aging contention: no AGEBENCH lines"], False
    lines.append("aging contention (same tool; issue 12): one vCPU faulting while another thread ages the whole VM in "
                 "a loop, faults per ms of the vCPU's CPU time")
    lines.append(f"  no aging {age['none']:.1f}; lockless aging {age['lockless']:.1f} "
                 f"({age['lockless'] / age['none']:.2f}x); aging under the MMU lock (write) {age['locked']:.1f} "
                 f"({age['locked'] / age['none']:.2f}x)")
    return lines, True


def print_peer(presults, pbackends, value, w0):
    """The side-by-side table: ours and KVM's per operation, and the ratio, per backend."""
    w0 = 20
    print("ours vs Linux KVM, side by side (bench/kvm: Debian's kernel and its KVM modules, mitigations=off; our VMM's "
          "guest times the same loops)")
    mods = ", ".join(f"{presults[b[0]]['info'].get('module', '?')} in {b[1]}" for b in pbackends)
    print(f"  KVM: {mods}; the most frequent exact total over 30 repeats of short loops (20 operations; MMIO "
          "and table loops 8)")
    print(f"{'':<{w0}}" + "".join(f"{b[1]:>30}" for b in pbackends))
    print(f"{'instructions per op':<{w0}}" + "".join(f"{'ours':>11}{'KVM':>10}{'ours/KVM':>9}" for b in pbackends)
          + "   what")
    for label, guest, spec, pspec, what in PEER_ROWS:
        cells = ""
        for b in pbackends:
            res = presults[b[0]]
            ours = value(b[0], guest, spec)
            if isinstance(pspec, tuple):
                x, y = (peer.per_op(res, s) for s in pspec)
                kvm = None if x is None or y is None else x - y
            else:
                kvm = peer.per_op(res, pspec)
            ratio = f"{ours / kvm:.2f}" if ours is not None and kvm else "-"
            cells += f"{fmt(ours):>11}{fmt(kvm):>10}{ratio:>9}"
        print(f"{label:<{w0}}{cells}   {what}")
    mk = peer.MITIGATIONS[0]
    if mk in presults and "bochs-vmx" in presults:
        print(f"KVM on Bochs skylake with Debian's default mitigations (for the record, not the comparison): "
              f"vmentry_l1d_flush={presults[mk]['info'].get('kvm_intel.vmentry_l1d_flush', '?')}")
        print(f"{'instructions per op':<{w0}}{'mitigations=off':>16}{'defaults':>11}{'difference':>11}")
        for label, _, _, pspec, _ in PEER_ROWS:
            vals = []
            for key in ("bochs-vmx", mk):
                if isinstance(pspec, tuple):
                    x, y = (peer.per_op(presults[key], s) for s in pspec)
                    vals.append(None if x is None or y is None else x - y)
                else:
                    vals.append(peer.per_op(presults[key], pspec))
            diff = None if None in vals else vals[1] - vals[0]
            print(f"{label:<{w0}}{fmt(vals[0]):>16}{fmt(vals[1]):>11}{fmt(diff):>11}")
    print("KVM's counters over one repeat with the reported total (checked in every such repeat: one exit of the "
          "expected kind per operation, plus the end mark's I/O exit)")
    for b in pbackends + ([peer.MITIGATIONS] if peer.MITIGATIONS[0] in presults else []):
        res = presults[b[0]]
        shown = r"\.(ept|npt|nrips|enable_apicv|avic|unrestricted_guest|vpid|vmentry_l1d_flush)$"
        print(f"  {b[1]}: " + ", ".join(f"{k}={v}" for k, v in sorted(res["info"].items()) if re.search(shown, k)))
        for name, (cycles, ops) in res["total"].items():
            count, of = res["repeats"].get(name, (0, 0))
            kvm = " ".join(f"{k} +{v}" for k, v in res["kvm"].get(name, {}).items())
            print(f"    {name:<14} {cycles:>9,} for {ops:>2} ({count:>2} of {of} repeats)  {kvm}")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2, help="boots per configuration (default 2)")
    ap.add_argument("--only", default="", help="regex on the backend keys: bochs-vmx, bochs-svm, qemu-svm, "
                    "bochs-vmx-noad, bochs-vmx-norsb, qemu-svm-norsb, bochs-penryn")
    ap.add_argument("--qemu-shift", type=int, default=0, help="QEMU -icount shift (default 0)")
    ap.add_argument("--jobs", type=int, default=min(os.cpu_count() or 2, 6), help="emulators at once")
    ap.add_argument("--section", choices=("all", "exits", "linux", "parallel", "ageflush", "net", "disk"), default="all",
                    help="exits: the exit and fault tables only; linux: the Linux comparison only; parallel: the "
                         "parallel TDP fault figures only (host threads); ageflush: the TLB flush after aging "
                         "only (bench/ageflush.py)")
    ap.add_argument("--bochs-linux", action=argparse.BooleanOptionalAction,
                    default=os.environ.get("BENCH_BOCHS_LINUX", "1") != "0",
                    help="the Linux comparison under Bochs too (default; two boots of 2.5 and 3.5 minutes of wall "
                         "time): --no-bochs-linux or BENCH_BOCHS_LINUX=0 leaves it out")
    ap.add_argument("--linux-runs", type=int, default=2, help="boots per QEMU Linux configuration (default 2)")
    ap.add_argument("--bochs-linux-runs", type=int, default=1, help="boots per Bochs Linux configuration (default 1)")
    ap.add_argument("--peer", action=argparse.BooleanOptionalAction, default=os.environ.get("BENCH_PEER", "1") != "0",
                    help="Linux KVM as the peer, in QEMU and Bochs Skylake (default): --no-peer or BENCH_PEER=0 "
                         "leaves it out")
    ap.add_argument("--peer-mitigations", action=argparse.BooleanOptionalAction,
                    default=os.environ.get("BENCH_PEER_MITIGATIONS", "0") != "0",
                    help="KVM on Bochs Skylake once more with Debian's default mitigations (L1D flush at every VM "
                         "entry), as a column for the record: off by default (BENCH_PEER_MITIGATIONS=1)")
    ap.add_argument("--net", action=argparse.BooleanOptionalAction, default=os.environ.get("BENCH_NET", "1") != "0",
                    help="the network section (bench/net.py, about 4 boots of a minute or two) in --section all "
                         "(default): --no-net or BENCH_NET=0 leaves it out")
    ap.add_argument("--disk", action=argparse.BooleanOptionalAction, default=os.environ.get("BENCH_DISK", "1") != "0",
                    help="the disk section (bench/disk.py, 8 boots of under a minute) in --section all (default): "
                         "--no-disk or BENCH_DISK=0 leaves it out")
    a = ap.parse_args()

    if a.section in ("net", "disk"):
        subprocess.run(["make", "-C", ROOT, "--no-print-directory", "linux"], check=True, stdout=subprocess.DEVNULL)
        bad = (net if a.section == "net" else disk).run_section(runner.OUT)
        if bad:
            print(f"bench: FAILED: {', '.join(bad)}")
        return 1 if bad else 0
    if a.section == "parallel":
        lines, ok = parallel_lines()
        print("\n".join(lines))
        return 0 if ok else 1
    for f in ("build/hv.elf",):
        if not os.path.exists(os.path.join(ROOT, f)):
            sys.exit(f"bench: {f} is missing: run `make all guests` first")
    # The bench target builds the hypervisor; the guests (benchfault is new) and the Linux guest are built here.
    subprocess.run(["make", "-C", ROOT, "--no-print-directory", "guests"] +
                   (["linux"] if a.section not in ("exits", "ageflush") else []),
                   check=True, stdout=subprocess.DEVNULL)
    os.makedirs(runner.OUT, exist_ok=True)

    backends = [b for b in BACKENDS if re.search(a.only, b[0])] if a.section not in ("linux", "ageflush") else []
    # The TLB flush after aging: its own boots (two vCPUs, so not on the hv.cpus=1 clock of the tables above).
    atasks = [t for t in ageflush.cases() if re.search(a.only, t[0])] if a.section in ("all", "ageflush") else []
    ptasks = [p for p in peer.BACKENDS if p[0] in (b[0] for b in backends)] if a.peer else []
    if ptasks and a.peer_mitigations and any(p[0] == "bochs-vmx" for p in ptasks):
        ptasks.append(peer.MITIGATIONS)
    if ptasks:
        subprocess.run(["make", "-C", ROOT, "--no-print-directory", "bench-peer"], check=True,
                       stdout=subprocess.DEVNULL)
    cases = [(b, r, make_case(b[0], b[3], b[4], r, a.qemu_shift)) for b in backends for r in range(1, a.runs + 1)]
    ltasks = linux.tasks(a.bochs_linux, a.linux_runs, a.bochs_linux_runs) if a.section not in ("exits", "ageflush") \
        else []
    print(f"bench: {len(cases)} boots ({len(backends)} backends x {a.runs}), {len(atasks)} age-flush boots, "
          f"{len(ltasks)} Linux boots and "
          f"{len(ptasks)} KVM peer boots, {a.jobs} at a time; logs in {os.path.relpath(runner.OUT, ROOT)}/", flush=True)
    t0 = time.monotonic()
    results, failed, lresults, presults = {}, [], {}, {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        # The Linux boots are the longest: they go first (Bochs ones before all), the short exit benches fill in.
        lfuts = [ex.submit(linux.run_one, c, r, runner.OUT, 5980 + i) for i, (c, r) in enumerate(ltasks)]
        for f in lfuts:
            f.add_done_callback(lambda f: linux.announce(*f.result()))
        pfuts = [ex.submit(peer.run_one, p, runner.OUT, 5970 + i)
                 for i, p in sorted(enumerate(ptasks), key=lambda x: x[1][2] != "bochs")]
        futs = {ex.submit(runner.run_case, c, 5950 + i): (b, r) for i, (b, r, c) in enumerate(cases)}
        afuts = {ex.submit(runner.run_case, c, 5940 + i): k for i, (k, _, c) in enumerate(atasks)}
        for fut in concurrent.futures.as_completed(futs):
            b, r = futs[fut]
            case, problems, secs, log = fut.result()
            if problems:
                failed.append(case.name)
                print(f"FAIL {case.name} ({secs:.0f}s): " + "; ".join(problems))
                print("\n".join("    | " + l for l in log.splitlines()[-25:]))
            else:
                print(f"done {case.name} ({secs:.0f}s)", flush=True)
            results[(b[0], r)] = parse(log)
        aresults = {}
        for fut in concurrent.futures.as_completed(afuts):
            case, problems, secs, log = fut.result()
            if problems:
                failed.append(case.name)
                print(f"FAIL {case.name} ({secs:.0f}s): " + "; ".join(problems))
                print("\n".join("    | " + l for l in log.splitlines()[-25:]))
            else:
                print(f"done {case.name} ({secs:.0f}s)", flush=True)
            aresults[afuts[fut]] = ageflush.parse(log)
        for f in lfuts:
            c, r, res = f.result()
            lresults[(c.key, r)] = res
        for f in pfuts:
            p, res = f.result()
            presults[p[0]] = res
            if res["problems"]:
                failed.append(res["name"])
                print(f"FAIL {res['name']} ({res['wall']:.0f}s): " + "; ".join(res["problems"]))
                print("\n".join("    | " + l for l in res["log"].splitlines()[-25:]))
            else:
                print(f"done {res['name']} ({res['wall']:.0f}s)", flush=True)
    print(f"bench: emulators finished in {time.monotonic() - t0:.0f}s (wall time is not a result)\n")
    linux.print_failures(lresults)
    abad = ageflush.print_section(aresults, {k: h for k, h, _ in atasks}, fmt) if atasks else []
    for p in abad:
        print(f"FAIL {p}")
    if a.section == "ageflush":
        bad = failed + abad
        if bad:
            print(f"bench: FAILED: {', '.join(bad)}")
        return 1 if bad else 0
    if not backends:
        bad = linux.report(lresults, a.bochs_linux, a.linux_runs, a.bochs_linux_runs, a.jobs) if ltasks else []
        if bad:
            print(f"bench: FAILED: {', '.join(bad)}")
        return 1 if bad else 0

    scale = {b[0]: (2 ** a.qemu_shift if b[3]["emulator"] == "qemu" else 1) for b in backends}
    first = {b[0]: results.get((b[0], 1), {}) for b in backends}

    def value(key, guest, spec):
        res = first[key]
        if callable(spec):
            return spec(res, scale[key])
        if isinstance(spec, tuple):
            x, y = (per_op(res, guest, s, scale[key]) for s in spec)
            return None if x is None or y is None else x - y
        return per_op(res, guest, spec, scale[key])

    w0, w = 20, 15
    tdp_backends = [b for b in backends if b[5]]
    head = f"{'instructions per op':<{w0}}" + "".join(f"{b[1]:>{w}}" for b in tdp_backends)
    print("\n".join(f"  {b[1]:<15} {b[2]}" for b in backends))
    if any(b[3]["emulator"] == "qemu" for b in backends):
        print(f"  (QEMU: -icount shift={a.qemu_shift},sleep=off; TSC deltas divided by {2 ** a.qemu_shift})")
    print()
    for title, rows in (("exits and first touch (tests/guests/bench.c)", EXIT_ROWS),
                        ("TDP fault cost, net (tests/guests/benchfault.c)", FAULT_ROWS)):
        if not tdp_backends:
            break
        print(f"{title}")
        print(head + "   what")
        for label, guest, spec, what in rows:
            cells = "".join(f"{fmt(value(b[0], guest, spec)):>{w}}" for b in tdp_backends)
            print(f"{label:<{w0}}{cells}   {what}")
        print()

    hard = [(b, n) for b in tdp_backends for n in backends if n[0] == b[0] + "-norsb"]
    if hard:
        print("speculation hardening: the RSB refill after every exit (arch/x86/rsb.h), with it and without "
              "(hv.rsb_fill=0)")
        print(f"{'instructions per op':<{w0}}" + "".join(f"{b[1]:>{w}}{'no refill':>{w}}{'= refill':>{w}}"
                                                          for b, _ in hard))
        for label, spec in HARDENING_ROWS:
            cells = ""
            for b, n in hard:
                x, y = value(b[0], "bench", spec), value(n[0], "bench", spec)
                cells += f"{fmt(x):>{w}}{fmt(y):>{w}}{fmt(None if x is None or y is None else x - y):>{w}}"
            print(f"{label:<{w0}}{cells}")
        print()

    if presults:
        print_peer(presults, [b for b in tdp_backends if b[0] in presults], value, w0)

    age_backends = [b for b in backends if b[4] in (TDP_SET, NOAD_SET)]
    if age_backends:
        print("aging (tests/guests/benchage.c: mmu_age_gfn_range through HC_AGE)")
        print(f"{'instructions':<{w0}}" + "".join(f"{b[1]:>{w}}" for b in age_backends) + "   what")
        for label, guest, spec, what in AGE_ROWS:
            cells = "".join(f"{fmt(value(b[0], guest, spec)):>{w}}" for b in age_backends)
            print(f"{label:<{w0}}{cells}   {what}")
        print()

    if tdp_backends:
        print("counter deltas over each timed loop: TDP faults / leaves mapped 4K / 2M / 1G / MMIO exits / tables linked / "
              "frames zeroed by table-cache refills")
        wd = 22  # "1000/1000/0/0/-/-/-" and a gap
        print(f"{'phase':<{w0}}" + "".join(f"{b[1]:>{wd}}" for b in tdp_backends))
        for guest, phase, label in DELTA_ROWS:
            cells = []
            for b in tdp_backends:
                d = first[b[0]].get(guest, {}).get("delta", {}).get(phase)
                cells.append("-" if d is None else "/".join(str(d.get(k, "-")) for k, _ in DELTA_KEYS))
            print(f"{label:<{w0}}" + "".join(f"{c:>{wd}}" for c in cells))
        print()

    # The shadow MMU's figures, next to the same backend's TDP 4K fault-in; its counter deltas checked in every run.
    shadow_backends = [b for b in backends if b[4] is not NOAD_SET and b[4] is not NORSB_SET]
    if shadow_backends:
        shadow.print_section(shadow_backends, first,
                             lambda key, guest, name: per_op(first[key], guest, name, scale[key]),
                             lambda key: value(key, "bench4k", "fault_4k") if key in (b[0] for b in tdp_backends)
                             else None, fmt, 26, w)
    shadow_bad = [p for b in shadow_backends for r in range(1, a.runs + 1) if (b[0], r) in results
                  for p in shadow.check(f"{b[0]} run {r}", results[(b[0], r)])]
    for p in shadow_bad:
        print(f"FAIL {p}")

    mismatch = []
    for b in backends:
        runs = [results.get((b[0], r)) for r in range(1, a.runs + 1)]
        if a.runs < 2:
            verdict = "one run only"
        elif any(not x for x in runs):
            verdict = "not compared (a run failed)"
            mismatch.append(b[0])
        else:
            diffs = []
            for r, other in enumerate(runs[1:], 2):
                for guest in sorted(set(runs[0]) | set(other)):
                    for kind in ("bench", "total", "delta", "end"):
                        x, y = runs[0].get(guest, {}).get(kind, {}), other.get(guest, {}).get(kind, {})
                        for k in sorted(set(x) | set(y)):
                            if x.get(k) != y.get(k):
                                diffs.append(f"run {r} {guest} {k}: {x.get(k)} vs {y.get(k)}")
            n = sum(len(v) if kind != "delta" else sum(len(d) for d in v.values())
                    for g in runs[0].values() for kind, v in g.items())
            verdict = (f"identical in all {a.runs} runs ({n} figures)" if not diffs else
                       f"DIFFERENT: " + "; ".join(diffs[:6]) + (" ..." if len(diffs) > 6 else ""))
            if diffs:
                mismatch.append(b[0])
        print(f"repeatability {b[1]:<15} {verdict}")
    print()
    lbad = linux.report(lresults, a.bochs_linux, a.linux_runs, a.bochs_linux_runs, a.jobs) if ltasks else []
    print("host")
    for line in host_lines():
        print(line)
    print()
    plines, pok = parallel_lines()
    print("\n".join(plines))
    # After the pool: its four boots run one at a time (each uses both host CPUs).
    nbad = net.run_section(runner.OUT) if a.net and a.section == "all" else []
    nbad += disk.run_section(runner.OUT) if a.disk and a.section == "all" else []
    abad += nbad
    if failed or mismatch or lbad or shadow_bad or not pok or abad:
        bad = failed + [m + " not repeatable" for m in mismatch] + lbad + (["shadow MMU counts"] if shadow_bad else [])
        bad += abad
        bad += [] if pok else ["parallel faults"]
        print(f"\nbench: FAILED: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
