#!/usr/bin/env python3
"""Boot the disk image under plain QEMU, no hypervisor, with QEMU's own virtio-blk-pci: Debian's kernel, the disk
initramfs (tests/linux/disk/init: modules, then switch_root to /dev/vda), build/linux/disk.img as the root file
system (tests/linux/disk/rootinit) and build/linux/disk-vdb.img as a second, read-only disk. It proves the image and the initramfs with none of the project's code, and holds
the lines the hypervisor's disk boot case expects (EXPECT below, imported by the integration suite; the lines match
with or without the hypervisor's "[vm-name] " prefix).

  disk_check.py [--kernel K] [--initrd I] [--disk IMG] [--timeout S]

QEMU writes to a copy of the image (the original stays as built). cache=writethrough: QEMU offers F_FLUSH and
F_CONFIG_WCE and reports its cache mode through them, and the guest checks it sees a write-through disk, as the
hypervisor's device shows it (vm/dev/virtio/blk.c); QEMU's default (writeback) fails that check, as it should.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from logcheck import log_problems  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
P = r"^(?:\[[\w.-]+\] )?"
MD5 = r"[0-9a-f]{32}"

EXPECT = [
    P + r"DISK INITRAMFS START$",
    P + r"DISK INITRAMFS modules \d+ loaded$",
    P + r"DISK INITRAMFS root /dev/vda ext4 mounted rw$",
    P + r"DISK ROOT START$",
    P + r"CHECK root PASS /dev/vda ext4 rw\S*$",
    P + rf"CHECK image PASS /data/image.bin md5 {MD5}$",
    P + rf"CHECK write PASS 1 MiB md5 {MD5}, synced, / remounted ro$",
    P + rf"CHECK readback PASS md5 {MD5} after remount ro and drop_caches$",
    P + r"CHECK cache PASS write_cache 'write through'$",
    P + rf"CHECK rodisk PASS /dev/vdb read-only, md5 {MD5}, a write refused$",
    P + r"LINUX TESTS DONE: 6 passed, 0 failed$",
    P + r"\[ *\d+\.\d+\] reboot: Power down$",
]
FORBID = [r"CHECK \S+ FAIL", r"DISK INITRAMFS FAIL", r"Kernel panic", r"LINUX TESTS ABORTED", r"I/O error, dev"]  # the kernel's; the hypervisor's counters say "0 I/O errors"


def check_log(log):
    """The first problem with log, or None: EXPECT in order, nothing of FORBID."""
    problems = log_problems(log, EXPECT, FORBID)
    return problems[0] if problems else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default=os.path.join(ROOT, "build", "linux", "vmlinuz"))
    ap.add_argument("--initrd", default=os.path.join(ROOT, "build", "linux", "initramfs-disk.cpio.gz"))
    ap.add_argument("--disk", default=os.path.join(ROOT, "build", "linux", "disk.img"))
    ap.add_argument("--timeout", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        disk = os.path.join(tmp, "disk.img")
        shutil.copyfile(args.disk, disk)
        vdb = args.disk[:-len(".img")] + "-vdb.img"  # scripts/mkdiskimg.sh's read-only second disk
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", "256M", "-kernel", args.kernel,
               "-initrd", args.initrd, "-append", "console=ttyS0 quiet panic=-1 root=/dev/vda",
               "-drive", f"file={disk},if=virtio,format=raw,cache=writethrough",
               "-drive", f"file={vdb},if=virtio,format=raw,readonly=on",
               "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"]
        t0 = time.time()
        try:
            log = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=args.timeout,
                                 text=True, errors="replace").stdout
        except subprocess.TimeoutExpired as e:
            log = (e.stdout or b"").decode(errors="replace") + "\n(timed out)"
    why = check_log(log)
    for line in log.splitlines():
        if line.startswith(("CHECK", "LINUX TESTS")):
            print("  " + line)
    if why:
        print("\n".join(log.splitlines()[-30:]))
        print(f"disk-qemu FAIL ({time.time() - t0:.1f}s): {why}")
        return 1
    print(f"disk-qemu PASS ({time.time() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
