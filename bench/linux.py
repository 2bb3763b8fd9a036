"""The Linux section of `make bench` (imported by bench/run.py): the same Debian kernel and busybox initramfs
(tests/linux) booted natively and under the hypervisor in the same emulator, and the guest's own timings compared.

The guest's /init (tests/linux/init) prints `BENCH userspace_uptime S` (/proc/uptime when /init starts: Linux from
its clock's start to userspace), `BENCH forkexec_200 S` (200 fork + exec of /bin/sh) and `BENCH memory_Nm S`. The
emulators run on virtual time, so these seconds are instruction counts scaled by a constant:
  QEMU   -icount shift=0,sleep=off -rtc clock=vm: one guest nanosecond per instruction; idle time (every CPU halted)
         is skipped at once (sleep=off), so guest seconds are instructions executed / 1e9 plus the idle time skipped.
         The whole run's executed instructions come from QEMU itself (QMP query-replay, read once the guest powered
         off and QEMU, run with -no-shutdown, stopped): power-on to power-off, firmware and GRUB included.
  Bochs  the TSC advances once per emulated instruction and the clock runs at ips=50,000,000 (scripts/bochsrc.in):
         50M instructions per guest second. Its idle loop costs ticks as well. The whole run is the tick count at
         which Bochs powered off (its log prefix).
Configurations, the QEMU ones booted twice by default (cheap, and the two runs must agree), the Bochs ones once
(about 2.5 and 3.5 minutes; --no-bochs-linux or BENCH_BOCHS_LINUX=0 leaves them out):
  native      QEMU: -kernel/-initrd/-append, booted by QEMU's own loader; Bochs: a plain GRUB ISO (linux + initrd)
  hypervisor  the hypervisor ISO (scripts/mkiso.sh) with the kernel and initramfs as the VM "linux" (LINUX_MODULES of
              tests/integration/suite.py), booted by GRUB; the hypervisor appends tsc_early_khz= itself
  hv, no VM   QEMU only: the same ISO, the same module bytes loaded by GRUB, but no vm= word: GRUB, the hypervisor's
              boot and its power-off alone, so that the whole-run counts can be split
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "linux"))
import runner  # noqa: E402  (bochs_cmd)
import suite  # noqa: E402  (Case, LINUX_MODULES)
import qemu_check  # noqa: E402  (EXPECT, FORBID: the lines the guest must print)
from logcheck import log_problems  # noqa: E402

KERNEL = "build/linux/vmlinuz"
INITRD = "build/linux/initramfs.cpio.gz"
APPEND = qemu_check.APPEND  # "console=ttyS0 quiet panic=-1", as in suite.LINUX_MODULES
HV_CMDLINE = "loglevel=6 hv.panic=poweroff hv.cpus=1"
# The guest options: the memory check's size and the clock check's sleep (tests/linux/init raises clocksecs to 2).
QEMU_GUEST = "hv.memmib=16 hv.clocksecs=1"
BOCHS_GUEST = "hv.memmib=8 hv.clocksecs=1"


def bochs_ips():
    with open(os.path.join(ROOT, "scripts", "bochsrc.in")) as f:
        return int(re.search(r"\bips=(\d+)", f.read()).group(1))


# Native Linux under Bochs, two words the hypervisor's VM does not need:
#   nr_cpus=1          Bochs 2.7 as packaged needs two CPUs (bench/README.md); the VM has one vCPU, so native Linux is
#                      held to one too.
#   tsc_early_khz=     Bochs' TSC runs at ips= ticks per second, but native Linux takes the model's nominal rate from
#                      CPUID (3.5 GHz for the i7-7800X): its clock then runs 70 times slow, each sleep lasts 70 times
#                      as many instructions, and the clock check fails. The hypervisor appends the measured rate to its
#                      guest's command line; native Linux gets the same word with the configured rate.
BOCHS_NATIVE_EXTRA = f"nr_cpus=1 tsc_early_khz={bochs_ips() // 1000}"
# QEMU: virtual time, and the RTC and the guest's RDRAND pinned so that two runs are the same run.
QEMU_CLOCK = ["-icount", "shift=0,sleep=off", "-rtc", "base=2026-01-01T00:00:00,clock=vm", "-seed", "1"]
BENCH_KEYS = ["userspace_uptime", "forkexec_200", "memory"]

EXPECT = list(qemu_check.EXPECT)
FORBID = qemu_check.FORBID + [r"PANIC", r"EXCEPTION", r"unhandled exit", r"VM entry failed"]
HV_EXPECT = EXPECT + [r"^vm linux: ended: powered off, status 0x0 ", r"^hv: all VMs have ended"]
IDLE_EXPECT = [r"module 0 .*bench-linux-kernel", r"^hv: boot complete", r"^vm config: module 0 has no vm=",
               r"^hv: nothing left to run"]


def hv_modules(guest_opts, as_vm=True):
    """suite.LINUX_MODULES with these guest options; without the vm= words (as_vm=False) the hypervisor skips them."""
    mods = []
    for path, args in suite.LINUX_MODULES:
        args = args.replace("HVMEM", guest_opts)
        if not as_vm:
            args = "bench-linux-kernel" if "role=initrd" not in args else "bench-linux-initrd"
        mods.append((path, args))
    return mods


class Config:
    def __init__(self, key, label, emulator, kind, guest_opts, timeout, cpu=None, hv_extra=""):
        self.key, self.label, self.emulator, self.kind = key, label, emulator, kind
        self.guest_opts, self.timeout, self.cpu = guest_opts, timeout, cpu
        self.hv_extra = hv_extra  # more words for the hypervisor's command line


QEMU_CONFIGS = [
    Config("qemu-native", "native", "qemu", "native", QEMU_GUEST, 300),
    Config("qemu-hv", "hypervisor", "qemu", "hv", QEMU_GUEST, 300),
    Config("qemu-hv-novm", "hv, no VM", "qemu", "idle", QEMU_GUEST, 120),
    # Shadow paging (hv.tdp=0): compared with the TDP run above, as the shadow MMU's cost; with unsync leaf tables
    # (the default), and with every guest table write-protected (hv.shadow_unsync=0).
    Config("qemu-hv-shadow", "shadow", "qemu", "hv", QEMU_GUEST, 900, hv_extra="hv.tdp=0"),
    Config("qemu-hv-shadow-wp", "shadow, no unsync", "qemu", "hv", QEMU_GUEST, 900,
           hv_extra="hv.tdp=0 hv.shadow_unsync=0"),
]
BOCHS_CONFIGS = [
    Config("bochs-native", "native", "bochs", "native", BOCHS_GUEST, 3600, "corei7_skylake_x"),
    Config("bochs-hv", "hypervisor", "bochs", "hv", BOCHS_GUEST, 3600, "corei7_skylake_x"),
]


def build_native_grub_iso(path, append, work, initrd=INITRD):
    """A plain GRUB rescue ISO that boots the kernel with its initramfs, serial console, no menu delay."""
    stage = os.path.join(work, "native-iso")
    os.makedirs(os.path.join(stage, "boot", "grub"))
    shutil.copy(os.path.join(ROOT, KERNEL), os.path.join(stage, "boot", "vmlinuz"))
    shutil.copy(os.path.join(ROOT, initrd), os.path.join(stage, "boot", "initramfs.cpio.gz"))
    with open(os.path.join(stage, "boot", "grub", "grub.cfg"), "w") as f:
        f.write("set timeout=0\nset default=0\nserial --unit=0 --speed=115200\n"
                "terminal_input serial console\nterminal_output serial console\n"
                f'menuentry "linux" {{\n\tlinux /boot/vmlinuz {append}\n\tinitrd /boot/initramfs.cpio.gz\n\tboot\n}}\n')
    p = subprocess.run(["grub-mkrescue", "-o", path, stage], capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError("grub-mkrescue failed: " + p.stderr.strip()[-500:])


def build_hv_iso(path, modules, extra=""):
    args = [os.path.join(ROOT, "scripts", "mkiso.sh"), path, os.path.join(ROOT, "build", "hv.elf"),
            f"{HV_CMDLINE} {extra}".strip()]
    for mod, mcmd in modules:
        args += [os.path.join(ROOT, mod), mcmd]
    subprocess.run(args, check=True)


class Qmp:
    def __init__(self, path, deadline):
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise RuntimeError("QMP socket did not appear")
                time.sleep(0.05)
        self.f = self.s.makefile("rw")
        json.loads(self.f.readline())  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name):
        self.f.write(json.dumps({"execute": name}) + "\n")
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("QMP connection closed")
            m = json.loads(line)
            if "return" in m:
                return m["return"]
            if "error" in m:
                raise RuntimeError(f"QMP {name}: {m['error']}")

    def close(self):
        self.s.close()


def run_qemu(cfg, work, serial, emu_log):
    """Boots one QEMU configuration; returns (executed instructions or None, problems)."""
    sock = os.path.join(work, "qmp.sock")
    base = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-display", "none",
            "-serial", f"file:{serial}", "-monitor", "none", "-no-reboot", "-no-shutdown",
            "-qmp", f"unix:{sock},server=on,wait=off"] + QEMU_CLOCK
    if cfg.kind == "native":
        cmd = base + ["-m", "512M", "-kernel", os.path.join(ROOT, KERNEL), "-initrd", os.path.join(ROOT, INITRD),
                      "-append", f"{APPEND} {cfg.guest_opts}"]
    else:
        iso = os.path.join(work, "hv.iso")
        build_hv_iso(iso, hv_modules(cfg.guest_opts, as_vm=cfg.kind == "hv"), cfg.hv_extra)
        # The host memory of the qemu-svm-linux case; the VM itself gets mem=512M, as native Linux gets -m 512M.
        cmd = base + ["-m", "2G", "-cdrom", iso, "-boot", "d"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=emu_log, stderr=subprocess.STDOUT, cwd=work,
                         start_new_session=True)
    deadline = time.monotonic() + cfg.timeout
    qmp, icount, problems = None, None, []
    try:
        qmp = Qmp(sock, deadline)
        # -no-shutdown: the guest's ACPI power-off stops QEMU instead of ending it, so the count can still be read.
        while qmp.cmd("query-status")["status"] != "shutdown":
            if p.poll() is not None:
                raise RuntimeError(f"QEMU exited (status {p.returncode}) before the guest powered off")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {cfg.timeout}s without powering off")
            time.sleep(0.2)
        icount = qmp.cmd("query-replay")["icount"]
        qmp.f.write(json.dumps({"execute": "quit"}) + "\n")
        qmp.f.flush()
        p.wait(timeout=30)
    except Exception as e:  # noqa: BLE001  (a failed boot is a result, not a crash of the bench)
        problems.append(str(e))
    finally:
        if qmp:
            qmp.close()
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return icount, problems


def run_bochs(cfg, work, serial, emu_log, port):
    """Boots one Bochs configuration; returns (ticks at power-off or None, problems)."""
    iso = os.path.join(work, "boot.iso")
    if cfg.kind == "native":
        build_native_grub_iso(iso, f"{APPEND} {cfg.guest_opts} {BOCHS_NATIVE_EXTRA}", work)
        megs = 512
    else:
        build_hv_iso(iso, hv_modules(cfg.guest_opts))
        megs = 1024  # as the bochs-vmx-linux case: the VM gets mem=512M
    case = suite.Case(cfg.key, "bochs", cfg.cpu, cpus=2, megs=megs)
    cmd = runner.bochs_cmd(case, iso, serial, work, port)
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=emu_log, stderr=subprocess.STDOUT, cwd=work,
                         start_new_session=True)
    p.stdin.write(b"c\n")  # Bochs, built with its debugger, stops at a prompt first
    p.stdin.close()
    problems = []
    try:
        p.wait(timeout=cfg.timeout)
    except subprocess.TimeoutExpired:
        problems.append(f"timed out after {cfg.timeout}s without powering off")
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    emu_log.flush()
    with open(emu_log.name, errors="replace") as f:
        m = re.search(r"^(\d+)\w\[ACPI\s*\] >>PANIC<< ACPI control: soft power off", f.read(), re.M)
    if not m and not problems:
        problems.append("Bochs ended without the ACPI soft power-off")
    return (int(m.group(1)) if m else None), problems


def parse(log):
    """The figures one serial log holds."""
    r = {"bench": {}}
    for name, val in re.findall(r"^(?:\[linux\] )?BENCH (\S+) (\d+\.\d\d)$", log, re.M):
        r["bench"]["memory" if name.startswith("memory_") else name] = float(val)
        if name.startswith("memory_"):
            r["memory_name"] = name
    m = re.search(r"^(?:\[linux\] )?INFO clocksource (\S*)$", log, re.M)
    r["clocksource"] = m.group(1) if m else None
    m = re.search(r"^vm linux: ended: .*\((\d+) exits, (\d+) TDP faults", log, re.M)
    if m:
        r["exits"], r["tdp_faults"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"^vm linux: shadow MMU: (\d+) faults \((\d+) reflected.*?, (\d+) emulated PTE writes .*?(\d+) "
                  r"flooding zaps\), (\d+) unsyncs, (\d+) syncs.*?(\d+) shadow pages made.*?(\d+) from the vCPU cache",
                  log, re.M)
    if m:
        r["shadow"] = dict(zip(("faults", "reflected", "pte_writes", "flood_zaps", "unsyncs", "syncs", "pages",
                                "root_cache_hits"), (int(x) for x in m.groups())))
    m = re.search(r"^(?:\[linux\] )?\[ *(\d+\.\d+)\] reboot: Power down$", log, re.M)
    r["poweroff_uptime"] = float(m.group(1)) if m else None
    return r


def check(cfg, log):
    return log_problems(log, {"native": EXPECT, "hv": HV_EXPECT, "idle": IDLE_EXPECT}[cfg.kind], FORBID)


def run_one(cfg, run, out_dir, port):
    """One boot: returns a dict with the parsed figures, the whole-run count, the wall time and any problems."""
    name = f"linux-{cfg.key}-run{run}"
    serial = os.path.join(out_dir, f"{name}.serial.log")
    open(serial, "w").close()
    work = tempfile.mkdtemp(prefix=f"hv-bench-{name}-")
    t0 = time.monotonic()
    try:
        with open(os.path.join(out_dir, f"{name}.emulator.log"), "w") as elog:
            if cfg.emulator == "qemu":
                total, problems = run_qemu(cfg, work, serial, elog)
            else:
                total, problems = run_bochs(cfg, work, serial, elog, port)
        with open(serial, errors="replace") as f:
            log = f.read().replace("\r", "")
        problems += check(cfg, log)
    except Exception as e:  # noqa: BLE001
        total, problems, log = None, [f"runner error: {e}"], ""
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res = parse(log)
    res.update(name=name, total=total, wall=time.monotonic() - t0, problems=problems, log=log)
    return cfg, run, res


def configs(bochs):
    return QEMU_CONFIGS + (BOCHS_CONFIGS if bochs else [])


def tasks(bochs, runs, bochs_runs):
    """(config, run) pairs, the slowest first so that they overlap the rest."""
    out = [(c, r) for c in configs(bochs) if c.emulator == "bochs" for r in range(1, bochs_runs + 1)]
    return out + [(c, r) for c in configs(bochs) if c.emulator == "qemu" for r in range(1, runs + 1)]


def ratio(a, b):
    return None if a is None or b is None or not b else a / b


def fmt_num(v, digits=2):
    if v is None:
        return "-"
    return f"{v:,}" if isinstance(v, int) else f"{v:,.{digits}f}"


def report(results, bochs, runs, bochs_runs, jobs):
    """results: {(key, run): res}. Prints the Linux tables; returns the names of failed or unrepeatable configs."""
    bad = []
    print("Linux: Debian's kernel and the busybox initramfs (tests/linux), native vs under the hypervisor")
    print(f"  native      QEMU: -kernel/-initrd, -m 512M; Bochs: a plain GRUB ISO (linux, initrd), megs 512, "
          f"'{BOCHS_NATIVE_EXTRA}' (Bochs needs 2 CPUs)")
    print(f"  hypervisor  GRUB -> hv ({HV_CMDLINE}) -> VM linux mem=512M, 1 vCPU (LINUX_MODULES; "
          "the hypervisor appends tsc_early_khz=)")
    print(f"  guest       {APPEND} + QEMU '{QEMU_GUEST}', Bochs '{BOCHS_GUEST}' (init sleeps at least 2 s)")
    print(f"  QEMU        TCG -cpu max -smp 1 {' '.join(QEMU_CLOCK)}: 1 guest ns = 1 instruction, idle skipped")
    print("  Bochs       corei7_skylake_x (VMX, EPT): 1 TSC tick per instruction, 50M ticks per guest second")
    print("  guest seconds count the Linux part only: from Linux's clock start (early in setup_arch) to the event;")
    print("  under the hypervisor that excludes GRUB, the hypervisor's own boot and the kernel's decompression,")
    print("  and so does it natively (firmware, loader, decompression). /proc/uptime has 10 ms steps: 10M instructions")
    print("  under QEMU, 500k under Bochs.")
    print()

    def first(key):
        return results.get((key, 1))

    for emu, title, cfgs in (("qemu", "QEMU TCG (SVM, NPT)", QEMU_CONFIGS), ("bochs", "Bochs skylake (VMX, EPT)",
                                                                             BOCHS_CONFIGS)):
        if emu == "bochs" and not bochs:
            print("Bochs: left out (--no-bochs-linux or BENCH_BOCHS_LINUX=0)\n")
            continue
        nat, hv = first(f"{emu}-native"), first(f"{emu}-hv")
        idle = first("qemu-hv-novm") if emu == "qemu" else None
        w0, w = 26, 16
        print(f"{title:<{w0}}{'native':>{w}}{'hypervisor':>{w}}{'hv / native':>{13}}")
        mem_name = (nat or hv or {}).get("memory_name", "memory")
        rows = [("userspace_uptime", "s to /init (Linux part)"), ("forkexec_200", "s for 200 fork+exec"),
                ("memory", "s for the tmpfs write/md5 pass")]
        for k, what in rows:
            a = (nat or {}).get("bench", {}).get(k)
            b = (hv or {}).get("bench", {}).get(k)
            r = ratio(b, a)
            if r is not None and a > 0.005:
                # Each value is rounded to 0.01 s: the ratio of the unrounded values lies in this range.
                what += f"; with the 0.01 s steps: {(b - 0.005) / (a + 0.005):.3f}-{(b + 0.005) / (a - 0.005):.3f}"
            print(f"{('BENCH ' + (mem_name if k == 'memory' else k)):<{w0}}{fmt_num(a):>{w}}{fmt_num(b):>{w}}"
                  f"{fmt_num(r, 3):>13}   {what}")
        unit = "instructions" if emu == "qemu" else "ticks"
        what = ("executed instructions, power-on to power-off (QMP query-replay)" if emu == "qemu" else
                "Bochs ticks at power-off: instructions plus idle, power-on to power-off")
        a, b = (nat or {}).get("total"), (hv or {}).get("total")
        print(f"{'whole run, ' + unit:<{w0}}{fmt_num(a):>{w}}{fmt_num(b):>{w}}{fmt_num(ratio(b, a), 3):>13}   {what}")
        if idle is not None:
            i = idle.get("total")
            print(f"{'  GRUB + hv, no VM':<{w0}}{'':>{w}}{fmt_num(i):>{w}}{'':>13}   the same ISO and module bytes, "
                  "no vm= (boot, power-off)")
            lin = None if b is None or i is None else b - i
            print(f"{'  = the Linux VM':<{w0}}{fmt_num(a):>{w}}{fmt_num(lin):>{w}}{fmt_num(ratio(lin, a), 3):>13}"
                  "   hypervisor run minus the no-VM run; native: the whole run (its firmware included)")
        a, b = (nat or {}).get("poweroff_uptime"), (hv or {}).get("poweroff_uptime")
        print(f"{'Linux uptime at power-off':<{w0}}{fmt_num(a, 3):>{w}}{fmt_num(b, 3):>{w}}"
              f"{fmt_num(ratio(b, a), 3):>13}   s, the kernel's 'reboot: Power down' stamp")
        cs = [str((x or {}).get("clocksource")) for x in (nat, hv)]
        print(f"{'clocksource':<{w0}}{cs[0]:>{w}}{cs[1]:>{w}}{'':>13}   the guest's, when /init starts")
        ex = (hv or {}).get("exits")
        print(f"{'VM exits, TDP faults':<{w0}}{'-':>{w}}"
              f"{(f'{ex:,}, ' + str(hv.get('tdp_faults'))) if ex is not None else '-':>{w}}"
              f"{'':>13}   the whole VM, from 'vm linux: ended'")
        n = bochs_runs if emu == "bochs" else runs
        for c in cfgs:
            walls = [results[(c.key, r)]["wall"] for r in range(1, n + 1) if (c.key, r) in results]
            print(f"{'wall time, ' + c.label:<{w0}}{', '.join(f'{x:.0f} s' for x in walls):>{2 * w}}"
                  f"   per run, {jobs} emulators at a time (not a result)")
        for c in cfgs:
            verdict, ok = repeat_verdict(results, c.key, n)
            if not ok:
                bad.append(f"{c.key} not repeatable")
            print(f"repeatability {c.label:<12}{verdict}")
        print()
    tdp = first("qemu-hv")
    for key, title in (("qemu-hv-shadow", "shadow"), ("qemu-hv-shadow-wp", "shadow, no unsync")):
        sh = first(key)
        if sh is None:
            continue
        w0, w = 26, 16
        print(f"{'QEMU TCG (SVM): ' + title:<{w0}}{'TDP (NPT)':>{w}}{'shadow':>{w}}{'shadow / TDP':>{13}}")
        for k, what in (("userspace_uptime", "s to /init"), ("forkexec_200", "s for 200 fork+exec"),
                        ("memory", "s for the tmpfs write/md5 pass")):
            a, b = (tdp or {}).get("bench", {}).get(k), sh.get("bench", {}).get(k)
            print(f"{('BENCH ' + k):<{w0}}{fmt_num(a):>{w}}{fmt_num(b):>{w}}{fmt_num(ratio(b, a), 3):>13}   {what}")
        a, b = (tdp or {}).get("total"), sh.get("total")
        print(f"{'whole run, instructions':<{w0}}{fmt_num(a):>{w}}{fmt_num(b):>{w}}{fmt_num(ratio(b, a), 3):>13}")
        for k, v in (sh.get("shadow") or {}).items():
            print(f"  shadow MMU {k:<15}{v:>{w + 14},}")
        verdict, ok = repeat_verdict(results, key, runs)
        if not ok:
            bad.append(f"{key} not repeatable")
        print(f"repeatability {title:<12}{verdict}")
        print()
    for (key, run), res in sorted(results.items()):
        if res["problems"]:
            bad.append(res["name"])
    return bad


def repeat_verdict(results, key, n):
    """Compares the runs of one configuration: (text, ok). Only a BENCH value that moved by more than one 0.01 s step
    makes it not ok."""
    runs = [results.get((key, r)) for r in range(1, n + 1)]
    if n < 2:
        return "one run only", True
    if any(r is None or r["problems"] for r in runs):
        return "not compared (a run failed)", False
    bench_diffs, steps, other = [], [], []
    for r, o in enumerate(runs[1:], 2):
        for k in sorted(set(runs[0]["bench"]) | set(o["bench"])):
            a, b = runs[0]["bench"].get(k), o["bench"].get(k)
            if a == b:
                continue
            # The hypervisor's TSC calibration, and so the guest's timing, moves with host-dependent input (see the
            # README): one 0.01 s step of /proc/uptime is that noise; more is a real difference.
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= 0.0100001:
                steps.append(f"run {r} {k} {a} vs {b}")
            else:
                bench_diffs.append(f"run {r} {k} {a} vs {b}")
        for k, label in (("total", "whole-run count"), ("exits", "exits"), ("tdp_faults", "TDP faults"),
                         ("poweroff_uptime", "power-off stamp")):
            x, y = runs[0].get(k), o.get(k)
            if x != y:
                if isinstance(x, (int, float)) and isinstance(y, (int, float)) and x:
                    rel = (y - x) / x
                    rel = f"{rel * 1e6:+.1f} ppm" if abs(rel) < 1e-4 else f"{rel * 100:+.3f}%"
                    other.append(f"{label} {fmt_num(x, 6)} vs {fmt_num(y, 6)} ({rel})")
                else:
                    other.append(f"{label} {x} vs {y}")
    if not bench_diffs and not steps and not other:
        return f"identical in all {n} runs (BENCH lines, whole-run count, exits, power-off stamp)", True
    if not bench_diffs and not steps:
        return f"BENCH lines identical in all {n} runs; " + "; ".join(other), True
    if not bench_diffs:
        return f"BENCH lines within one 0.01 s step: " + "; ".join(steps + other), True
    return "DIFFERENT: " + "; ".join(bench_diffs + other), False


def print_failures(results):
    for (key, run), res in sorted(results.items()):
        if res["problems"]:
            print(f"FAIL {res['name']} ({res['wall']:.0f}s): " + "; ".join(res["problems"]))
            print("\n".join("    | " + l for l in res["log"].splitlines()[-20:]))


_lock = threading.Lock()


def announce(cfg, run, res):
    with _lock:
        state = "FAIL" if res["problems"] else "done"
        print(f"{state} {res['name']} ({res['wall']:.0f}s)", flush=True)
