#!/usr/bin/env python3
"""The disk section of `make bench` (bench/run.py --section disk, or run alone): virtio-blk throughput of one Linux
VM, in guest instructions per byte, under the hypervisor (vm/dev/virtio/blk.c over a role=disk module in host RAM)
and natively (plain QEMU with its own virtio-blk-pci over a file).

The guest is the project's disk image (build/linux/disk.img as vda, root) in bench mode: hv.diskbench=read:N or
write:N makes its /sbin/init (tests/linux/disk/rootinit) run N passes of direct 64 KiB dd reads or writes over the
whole scratch disk vdc (SCRATCH MiB of zeroes), then power off. Each configuration runs with N = SMALL and N = LARGE,
counted by the bench/insn plugin (bench/insn_run.py), and the difference is what the LARGE - SMALL passes cost, so the
boot, the module loads and the power-off cancel out:
  instructions per byte = (count(LARGE) - count(SMALL)) / ((LARGE - SMALL) * SCRATCH MiB)
  hypervisor  one QEMU, -smp 2: the hypervisor and the VM; the count is the guest's and the hypervisor's (the doorbell
              exits, the request copies, the interrupts).
  native      one QEMU, -smp 1: the guest's instructions alone (QEMU's device model runs on the host, uncounted).
The ratio hypervisor / native is then what the hypervisor adds per byte moved.

KVM as the peer (bench/kvm) is not measured: its VMM (bench/kvm/vmm.c) has no virtio-blk.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from insn_run import QEMU, build_plugin, run_counted  # noqa: E402

KERNEL = os.path.join(ROOT, "build", "linux", "vmlinuz")
INITRD = os.path.join(ROOT, "build", "linux", "initramfs-disk.cpio.gz")
ROOTIMG = os.path.join(ROOT, "build", "linux", "disk.img")
VDBIMG = os.path.join(ROOT, "build", "linux", "disk-vdb.img")  # vdb, so that the scratch disk is vdc as in the tests
APPEND = "console=ttyS0 quiet panic=-1 cryptomgr.notests root=/dev/vda hv.diskbench={mode}:{passes}"
SCRATCH = 16  # MiB
SMALL, LARGE = 1, 17  # passes: 256 MiB more, against boots that vary by tens of millions
TIMEOUT = 600


def _disks(work):
    """Fresh copies: the root (the boot writes to it) and the scratch disk."""
    root, scratch = os.path.join(work, "root.img"), os.path.join(work, "scratch.img")
    shutil.copyfile(ROOTIMG, root)
    with open(scratch, "wb") as f:
        f.truncate(SCRATCH << 20)
    return root, scratch


def run_native(mode, passes, out):
    serial = os.path.join(out, f"disk-native-{mode}{passes}.serial.log")
    with tempfile.TemporaryDirectory() as work:
        root, scratch = _disks(work)
        cmd = QEMU + ["-smp", "1", "-m", "256M", "-kernel", KERNEL, "-initrd", INITRD,
                      "-append", APPEND.format(mode=mode, passes=passes),
                      "-drive", f"file={root},if=virtio,format=raw",
                      "-drive", f"file={VDBIMG},if=virtio,format=raw,readonly=on",
                      "-drive", f"file={scratch},if=virtio,format=raw", "-serial", f"file:{serial}"]
        n = run_counted([cmd], work, TIMEOUT)
    return n, open(serial, errors="replace").read()


def run_hv(mode, passes, out):
    serial = os.path.join(out, f"disk-hv-{mode}{passes}.serial.log")
    with tempfile.TemporaryDirectory() as work:
        root, scratch = _disks(work)
        iso = os.path.join(work, "hv.iso")
        app = APPEND.format(mode=mode, passes=passes)
        args = [os.path.join(ROOT, "scripts", "mkiso.sh"), iso, os.path.join(ROOT, "build", "hv.elf"),
                "loglevel=6 hv.panic=poweroff", KERNEL, f'vm=disk mem=128M cmdline="{app}"', INITRD,
                "vm=disk role=initrd", root, "vm=disk role=disk", VDBIMG, "vm=disk role=disk ro", scratch,
                "vm=disk role=disk"]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        n = run_counted([QEMU + ["-smp", "2", "-m", "1G", "-cdrom", iso, "-boot", "d", "-serial", f"file:{serial}"]],
                        work, TIMEOUT)
    return n, open(serial, errors="replace").read()


def check(log, mode, passes):
    problems = []
    if not re.search(rf"DISKBENCH DONE {mode} {passes} passes of {SCRATCH << 20} bytes", log):
        problems.append("no DISKBENCH DONE line")
    if re.search(r"DISKBENCH FAIL|Kernel panic|device needs reset|PANIC", log):
        problems.append("a failure line")
    return problems


def requests(log, mode):
    """The scratch disk's request count for mode, from the device's report at the VM's end (hypervisor runs)."""
    m = re.search(r"^vm disk: vdc: (\d+) reads \(\d+ KiB\), (\d+) writes", log, re.M)
    return None if not m else int(m.group(1 if mode == "read" else 2))


def run_section(out):
    os.makedirs(out, exist_ok=True)
    build_plugin()
    res, bad = {}, []
    for kind, fn in (("native", run_native), ("hypervisor", run_hv)):
        for mode in ("read", "write"):
            for passes in (SMALL, LARGE):
                t0 = time.monotonic()
                try:
                    n, log = fn(mode, passes, out)
                    probs = check(log, mode, passes)
                except Exception as e:  # noqa: BLE001  (a failed boot is a result)
                    n, log, probs = None, "", [str(e)]
                print(f"  disk {kind} {mode} x{passes}: {n} instructions, {time.monotonic() - t0:.0f} s wall (not a "
                      "result)" + (f"; PROBLEMS: {'; '.join(probs)}" if probs else ""), flush=True)
                if probs:
                    bad.append(f"disk {kind} {mode} x{passes}")
                    n = None
                res[kind, mode, passes] = (n, log)
    moved = (LARGE - SMALL) * (SCRATCH << 20)
    print(f"\ndisk: virtio-blk, direct 64 KiB dd over a {SCRATCH} MiB disk, {LARGE - SMALL} passes more between two "
          "runs (instructions executed, power-on to power-off, counted by bench/insn)")
    for mode in ("read", "write"):
        per = {}
        for kind in ("native", "hypervisor"):
            (a, la), (b, lb) = res[kind, mode, SMALL], res[kind, mode, LARGE]
            if a is None or b is None:
                print(f"  {mode:<5} {kind:<11} -")
                continue
            per[kind] = (b - a) / moved
            extra = ""
            ra, rb = requests(la, mode), requests(lb, mode)
            if ra is not None and rb is not None and rb > ra:
                extra = f", {(b - a) / (rb - ra):,.0f} per request ({rb - ra} requests)"
            print(f"  {mode:<5} {kind:<11} {per[kind]:8.2f} instructions per byte{extra}")
        if len(per) == 2:
            print(f"  {mode:<5} ratio hypervisor / native: {per['hypervisor'] / per['native']:.2f}")
    print("  KVM peer: not measured (bench/kvm's VMM has no virtio-blk; see bench/disk.py)")
    return bad


if __name__ == "__main__":
    sys.exit(1 if run_section(os.path.join(ROOT, "build", "bench")) else 0)
