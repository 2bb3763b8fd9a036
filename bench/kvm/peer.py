"""The KVM peer of `make bench` (imported by bench/run.py): Linux KVM measured with the same loops as the
hypervisor, in the same emulators, in the same run.

Debian's kernel (build/linux/vmlinuz) boots natively in the emulator with the initramfs of bench/kvm/mkinitramfs.sh:
Debian's kvm, kvm-intel/kvm-amd modules and the static VMM bench/kvm/vmm.c, which runs the guest bench/kvm/guest.c
(the loops of tests/guests/bench.c and benchfault.c, tests/guests/lib/benchloops.c) and prints, per loop, the most
frequent exact total over its repeats, with KVM's own counters over the loop checked (one exit of the expected kind per
operation). The clock is the hypervisor bench's: QEMU TCG -cpu max (SVM, NPT, no NRIPS) with -icount shift=0,sleep=off,
Bochs corei7_skylake_x (VMX, EPT) with one TSC tick per instruction. The L2 guest's rdtsc is the emulated CPU's TSC
plus KVM's offset, so its deltas count every instruction of L1 and L2 between the two reads.

Kernel command line: mitigations=off (neither side pays for speculation mitigations; with Debian's defaults Bochs
Skylake makes KVM flush the L1D at every VM entry: MITIGATIONS, opt-in, boots that for the record), tsc=reliable,
nr_cpus=1 (Bochs runs two CPUs, see bench/README.md), and under Bochs the TSC rate as the native Linux boots of
bench/linux.py get it.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import linux  # noqa: E402  (bench/linux.py: the kernel, the GRUB ISO, Bochs' TSC rate)
from logcheck import log_problems  # noqa: E402  (tests/lib, on the path bench/linux.py set)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INITRD = "build/bench-peer/initramfs.cpio.gz"
APPEND = "console=ttyS0 quiet panic=-1 tsc=reliable nr_cpus=1"
# (key, column heading, emulator, CPU, timeout in seconds, mitigations=off); the keys are those of bench/run.py's
# BACKENDS.
BACKENDS = [
    ("qemu-svm", "QEMU TCG max", "qemu", "max", 600, True),
    ("bochs-vmx", "Bochs skylake", "bochs", "corei7_skylake_x", 3600, True),
]
# Debian's default mitigations, for the record (not the comparison): on Bochs Skylake KVM then flushes the L1D at
# every VM entry. bench/run.py --peer-mitigations adds it.
MITIGATIONS = ("bochs-vmx-mitigations", "Bochs skylake, Debian's mitigations", "bochs", "corei7_skylake_x", 3600, False)
EXPECT = [r"^PEER INIT START", r"^TEST benchkvm PASS", r"^PEER VMM EXIT 0$"]
FORBID = [r"^PEER FAIL", r"^bench: FAIL", r"^TEST benchkvm FAIL", r"Kernel panic"]


def append(mitigations_off):
    return APPEND + (" mitigations=off" if mitigations_off else "")


def run_qemu(serial, emu_log, timeout, cmdline):
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "512M", "-display", "none",
           "-serial", f"file:{serial}", "-monitor", "none", "-no-reboot"] + linux.QEMU_CLOCK + [
           "-kernel", os.path.join(ROOT, linux.KERNEL), "-initrd", os.path.join(ROOT, INITRD), "-append", cmdline]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=emu_log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return [f"timed out after {timeout}s"]
    return [] if p.returncode == 0 else [f"QEMU exited with status {p.returncode}"]


def run_bochs(serial, emu_log, timeout, cmdline, cpu, work, port):
    iso = os.path.join(work, "peer.iso")
    linux.build_native_grub_iso(iso, f"{cmdline} tsc_early_khz={linux.bochs_ips() // 1000}", work, initrd=INITRD)
    case = linux.suite.Case("bench-peer-bochs", "bochs", cpu, cpus=2, megs=512)
    cmd = linux.runner.bochs_cmd(case, iso, serial, work, port)
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=emu_log, stderr=subprocess.STDOUT, cwd=work,
                         start_new_session=True)
    p.stdin.write(b"c\n")  # Bochs, built with its debugger, stops at a prompt first
    p.stdin.close()
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return [f"timed out after {timeout}s"]
    return []


def parse(log):
    """{"total": {name: (cycles, ops)}, "repeats": {name: (count, of)}, "kvm": {name: {stat: n}},
    "info": {what: value}}"""
    r = {"total": {}, "repeats": {}, "kvm": {}, "info": {}}
    for line in log.splitlines():
        m = re.match(r"^bench: (\w+): (\d+) cycles for (\d+) operations$", line)
        if m:
            r["total"][m.group(1)] = (int(m.group(2)), int(m.group(3)))
            continue
        m = re.match(r"^bench: (\w+): the most frequent total of (\d+) repeats \((\d+) times\)", line)
        if m:
            r["repeats"][m.group(1)] = (int(m.group(3)), int(m.group(2)))
            continue
        m = re.match(r"^bench: (\w+): kvm((?: \w+ \+\d+)*)$", line)
        if m:
            r["kvm"][m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+) \+(\d+)", m.group(2))}
            continue
        m = re.match(r"^PEER INFO (\S+) (.*)$", line)
        if m:
            r["info"][m.group(1)] = m.group(2)
    return r


def check(log):
    return log_problems(log, EXPECT, FORBID)


def run_one(backend, out_dir, port):
    """One boot: (backend, {parsed figures, problems, wall, log})."""
    key, _, emulator, cpu, timeout, mitigations_off = backend
    name = f"peer-{key}"
    serial = os.path.join(out_dir, f"{name}.serial.log")
    open(serial, "w").close()
    work = tempfile.mkdtemp(prefix=f"hv-bench-{name}-")
    t0 = time.monotonic()
    try:
        with open(os.path.join(out_dir, f"{name}.emulator.log"), "w") as elog:
            if emulator == "qemu":
                problems = run_qemu(serial, elog, timeout, append(mitigations_off))
            else:
                problems = run_bochs(serial, elog, timeout, append(mitigations_off), cpu, work, port)
        with open(serial, errors="replace") as f:
            log = f.read().replace("\r", "")
        problems += check(log)
    except Exception as e:  # noqa: BLE001  (a failed boot is a result, not a crash of the bench)
        problems, log = [f"runner error: {e}"], ""
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res = parse(log)
    res.update(name=name, wall=time.monotonic() - t0, problems=problems, log=log)
    return backend, res


def per_op(res, name):
    t = res.get("total", {}).get(name) if res else None
    return None if t is None else t[0] / t[1]
