#!/usr/bin/env python3
"""Boot the Linux guest (Debian's kernel, the busybox initramfs with tests/linux/init) under plain QEMU, with no
hypervisor, and check its serial log: a cross-check of the guest itself, and the reference for the lines the
hypervisor's Linux test case expects (EXPECT and FORBID below are meant to be imported by the integration suite; they
also match lines the hypervisor prefixes with "[vm-name] ").

  qemu_check.py [--kernel build/linux/vmlinuz] [--initrd build/linux/initramfs.cpio.gz] [--only tcg|icount]
                [--append WORDS] [--smp N]

Two runs, side by side:
  tcg     -accel tcg -cpu max: guest time is host time.
  icount  the same with -icount shift=7,sleep=off: guest time is virtual (128 ns per instruction), so the BENCH lines
          count instructions (seconds * 1e9 / 128). The RTC must follow the same clock (-rtc clock=vm), or the clock
          check fails: QEMU's RTC runs on host time by default while sleep=off skips idle virtual time.
--smp N gives the guest N CPUs (-smp N) and hv.cpus=N, so that /init runs its smp check, and expects its lines
(expect(N)). With N > 1 only the tcg run is made: under -icount (QEMU 7.2, shift 0 or 7, sleep on or off, -cpu max,
Haswell or qemu64) Linux hangs at "x86: Booting SMP configuration:" bringing up the second CPU.
Each run prints PASS/FAIL with the wall time, the BENCH lines, and on failure the log tail. Exit status 1 on any
failure.
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from logcheck import log_problems  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A line of the guest: as QEMU's serial port shows it, or as the hypervisor's console does, after "[NAME] ".
P = r"^(?:\[[\w.-]+\] )?"


def expect(cpus=None, forks=200):
    """The lines /init prints, in this order. cpus=N: the guest has hv.cpus=N, and its smp check must pass too."""
    smp = []
    if cpus:
        online = "0" if cpus == 1 else f"0-{cpus - 1}"
        smp = [P + rf"BENCH smp_forkexec_{cpus}x\d+ \d+\.\d\d$",
               P + rf"CHECK smp PASS {cpus} CPUs online \({online}\), timer ticks on each, \d+ IPIs .*s$"]
    return [
        P + r"LINUX INIT START$",
        P + r"CHECK mounts PASS proc sysfs devtmpfs tmpfs$",
        P + r"INFO kernel \d+\.\d+\.\d+-\d+-amd64$",
        P + r"INFO cpu \S.*$",
        P + rf"INFO cpus {cpus}$" if cpus else P + r"INFO cpus \d+$",
        P + r"CHECK clock PASS \(sleep \d+s: uptime \+\d+\.\d\ds, rtc \+\d+s; .*\)$",
        P + r"BENCH memory_\d+m \d+\.\d\d$",
        P + r"CHECK memory PASS \d+MiB md5 [0-9a-f]{32}$",
        P + rf"BENCH forkexec_{forks} \d+\.\d\d$",
        P + rf"CHECK forkexec PASS {forks} processes, {forks} distinct pids, \d+\.\d\ds$",
    ] + smp + [
        P + r"BENCH userspace_uptime \d+\.\d\d$",
        P + rf"LINUX TESTS DONE: {5 if cpus else 4} passed, 0 failed$",
        P + r"\[ *\d+\.\d+\] reboot: Power down$",
    ]


# Without hv.cpus= (any number of CPUs): no smp check. The integration suite and bench/linux.py import this.
EXPECT = expect()
FORBID = [r"CHECK \S+ FAIL", r"LINUX TESTS ABORTED", r"LINUX poweroff failed", r"Kernel panic", r"BUG: ", r"Oops",
          r"general protection fault", r"Call Trace"]
APPEND = "console=ttyS0 quiet panic=-1"
RUNS = {
    "tcg": [],
    "icount": ["-icount", "shift=7,sleep=off", "-rtc", "clock=vm"],
}


def check_log(log, patterns=None):
    return log_problems(log, EXPECT if patterns is None else patterns, FORBID)


def run(name, extra, args):
    append = f"{APPEND} {args.append}".strip() + (f" hv.cpus={args.smp}" if args.smp else "")
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", str(args.smp or 1), "-m", "512M",
           "-kernel", args.kernel, "-initrd", args.initrd, "-append", append, "-display", "none",
           "-serial", "stdio", "-monitor", "none", "-no-reboot"] + extra
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=args.timeout)
        log, rc, timed_out = p.stdout.decode(errors="replace"), p.returncode, False
    except subprocess.TimeoutExpired as e:
        log, rc, timed_out = (e.stdout or b"").decode(errors="replace"), None, True
    wall = time.monotonic() - t0
    log = log.replace("\r", "")
    log_name = f"qemu-{name}" + (f"-smp{args.smp}" if args.smp else "")
    with open(os.path.join(os.path.dirname(args.kernel), f"{log_name}.log"), "w") as f:
        f.write(log)
    problems = check_log(log, expect(args.smp))
    if timed_out:
        problems.append(f"QEMU still running after {args.timeout}s (no power-off)")
    elif rc != 0:
        problems.append(f"QEMU exit status {rc}")
    return name, problems, wall, log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default=os.path.join(ROOT, "build", "linux", "vmlinuz"))
    ap.add_argument("--initrd", default=os.path.join(ROOT, "build", "linux", "initramfs.cpio.gz"))
    ap.add_argument("--only", choices=sorted(RUNS))
    ap.add_argument("--append", default="", help="more kernel command line words")
    ap.add_argument("--smp", type=int, default=0, metavar="N",
                    help="N CPUs, and hv.cpus=N for the guest's smp check (default: 1 CPU, no smp check)")
    ap.add_argument("--timeout", type=int, default=300)
    args = ap.parse_args()
    if args.smp > 1 and args.only == "icount":
        ap.error("--smp above 1 hangs under -icount (see the top of this file)")
    names = [args.only] if args.only else ["tcg"] if args.smp > 1 else list(RUNS)
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as ex:
        for fut in [ex.submit(run, n, RUNS[n], args) for n in names]:
            name, problems, wall, log = fut.result()
            bench = " ".join(re.findall(r"BENCH (\S+ \S+)", log))
            extra = (" ".join(RUNS[name]) or "no icount") + (f", -smp {args.smp}" if args.smp else "")
            if problems:
                failed += 1
                print(f"FAIL linux-qemu/{name} ({wall:.1f}s wall, {extra}): " + "; ".join(problems))
                print("\n".join("    | " + l for l in log.splitlines()[-25:]))
            else:
                print(f"PASS linux-qemu/{name} ({wall:.1f}s wall, {extra}): {bench}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
