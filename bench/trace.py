#!/usr/bin/env python3
"""Where a round trip's instructions go: one Bochs Skylake boot of a guest under the hypervisor, stopped in Bochs's
debugger at the Kth passage through a hypervisor label (a linear breakpoint), then traced instruction by instruction
to the next passage, and each instruction counted to the hypervisor function (or GUEST) that holds it.

    python3 bench/trace.py vmx_exit_point 700        # an exit of tests/guests/bench.c's CPUID loop, stub to stub
    python3 bench/trace.py vmx_exit_point 1700       # one of its OUT loop
    python3 bench/trace.py vmx_exit_point 1700 --hv "hv.rsb_fill=0" --full   # every instruction, not the sums
    python3 bench/trace.py vmx_exit_point 200 --module build/guests/benchfault.elf --args "vm=benchfault mem=128M"

Break on the exit stub (`vmx_exit_point`): Bochs 2.7 checks breakpoints per instruction, but not always on the first
instruction of a function entered by a tail jump from a dispatch table (a handler), so a handler's calls may be
undercounted. Pick K inside the loop being measured (the bench guest's loops run 1000 times each, in the order of its
serial log; the "in order" line shows which exit was traced). The count is one round trip, as the bench's own rdtsc
delta counts it (plus the loop's few instructions); it is exact and the same on every run. Run `make all guests`
first."""
import argparse
import bisect
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import runner  # noqa: E402
import suite  # noqa: E402


def symbols(elf):
    syms = []
    for line in subprocess.run(["nm", "-n", elf], capture_output=True, text=True, check=True).stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "tTwW":
            syms.append((int(p[0], 16), p[2]))
    return syms


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("function", help="hypervisor label to stop at (nm name), e.g. vmx_exit_point, or a linear "
                    "address in hex (an instruction inside a handler, which Bochs's breakpoints do not miss)")
    ap.add_argument("hit", type=int, help="stop at its Kth passage")
    ap.add_argument("--module", default="build/guests/bench.elf")
    ap.add_argument("--args", default="vm=bench mem=128M", help="the module's line")
    ap.add_argument("--hv", default="", help="more hypervisor options")
    ap.add_argument("--full", action="store_true", help="print every instruction with its function")
    a = ap.parse_args()

    elf = os.path.join(ROOT, "build", "hv.elf")
    syms = symbols(elf)
    addrs = [s[0] for s in syms]
    target = [int(a.function, 16)] if a.function.startswith("0x") else [s[0] for s in syms if s[1] == a.function]
    if not target:
        sys.exit(f"trace: no function {a.function} in {elf}")
    case = suite.Case("trace", "bochs", "corei7_skylake_x", megs=512, timeout=900,
                      cmdline="loglevel=6 hv.panic=poweroff hv.cpus=1 " + a.hv, modules=[(a.module, a.args)])
    work = tempfile.mkdtemp(prefix="hv-trace-")
    iso = os.path.join(work, "hv.iso")
    runner.build_iso(case, iso)
    cmd = runner.bochs_cmd(case, iso, os.path.join(work, "serial.log"), work, 5990)
    # The debugger's own commands: a breakpoint, K continues, then tracing on to the next hit.
    cmds = f"lb 0x{target[0]:x}\n" + "c\n" * a.hit + "trace on\nc\nq\n"
    out = subprocess.run(cmd, input=cmds.encode(), capture_output=True, cwd=work, timeout=900).stdout
    counts, order = {}, []
    for line in out.decode(errors="replace").splitlines():
        m = re.match(r"^\(0\)\.\[\d+\] \[0x[0-9a-f]+\] [0-9a-f]{4}:([0-9a-f]{16}) \(unk\. ctxt\): (.*)$", line)
        if not m:
            continue
        addr = int(m.group(1), 16)
        i = bisect.bisect_right(addrs, addr) - 1
        name = syms[i][1] if addr >= addrs[0] and i >= 0 else "GUEST"
        counts[name] = counts.get(name, 0) + 1
        if not order or order[-1][0] != name:
            order.append([name, 0])
        order[-1][1] += 1
        if a.full:
            print(f"{name:32s} {m.group(1)[-8:]} {m.group(2)}")
    total = sum(counts.values())
    if not total:
        sys.exit(f"trace: no instruction traced: {a.function} reached fewer than {a.hit + 1} times? "
                 f"(serial log in {work})")
    print(f"{total} instructions from passage {a.hit} through {a.function} to the next (serial log in {work})")
    print("in order: " + " ".join(f"{n}:{c}" for n, c in order))
    for name, c in sorted(counts.items(), key=lambda x: -x[1]):
        print(f"{c:8d}  {name}")


if __name__ == "__main__":
    main()
