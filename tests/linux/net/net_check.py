#!/usr/bin/env python3
"""Run the two-VM network test under plain QEMU, no hypervisor: two QEMU processes, each with QEMU's virtio-net-pci,
joined by -netdev socket (one listens, the other connects), booting Debian's kernel with the network initramfs
(tests/linux/net/init). It proves the guest scripts with none of the project's code, and holds what the
hypervisor's case checks (EXPECT_RECV, EXPECT_SEND and check_pair, imported by the integration suite; the lines
match with or without the hypervisor's "[vm-name] " prefix).

  net_check.py [--kernel K] [--initrd I] [--mib N] [--timeout S]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from logcheck import log_problems  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MD5 = r"[0-9a-f]{32}"


def _p(vm):
    return r"^(?:\[" + re.escape(vm) + r"\] )?" if vm else r"^(?:\[[\w.-]+\] )?"


def expect(role, vm=None, mib=16):
    """The lines one VM prints, in order (vm: its name in the hypervisor's prefix, or any/none)."""
    P = _p(vm)
    last = (rf"NET RECV PASS {mib * 1048576} bytes md5 ({MD5})$" if role == "recv" else
            rf"NET SEND PASS {mib * 1048576} bytes md5 ({MD5})$")
    return [
        P + rf"NET START {role}$",
        P + r"NET modules \d+ loaded$",
        P + r"NET eth0 [\d.]+ mac ([0-9a-f:]{17}) up$",
        P + r"NET PING PASS 3/3 from [\d.]+$",
        P + last,
        P + r"LINUX TESTS DONE: 2 passed, 0 failed$",
    ]


FORBID = [r"NET \S+ FAIL", r"Kernel panic", r"LINUX TESTS ABORTED"]


def check_one(log, role, vm=None, mib=16):
    """(problem or None, md5 or None, mac or None) for one VM's lines in log."""
    pos, md5, mac = 0, None, None
    for pat in expect(role, vm, mib):
        m = re.compile(pat, re.M).search(log, pos)
        if not m:
            return f"{vm or role}: missing (in order): {pat}", None, None
        if "mac" in pat:
            mac = m.group(1)
        if "md5" in pat:
            md5 = m.group(1)
        pos = m.end()
    return None, md5, mac


def check_pair(recv_log, send_log, recv_vm=None, send_vm=None, mib=16):
    """The first problem with the two VMs' lines (the same log twice under the hypervisor), or None: both VMs' lines
    in order, nothing of FORBID, and the same checksum on both sides."""
    why, rsum, _ = check_one(recv_log, "recv", recv_vm, mib)
    if why:
        return why
    why, ssum, _ = check_one(send_log, "send", send_vm, mib)
    if why:
        return why
    for log in (recv_log, send_log):
        problems = log_problems(log, [], FORBID)
        if problems:
            return problems[0]
    if rsum != ssum:
        return f"checksums differ: sent {ssum}, received {rsum}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default=os.path.join(ROOT, "build", "linux", "vmlinuz"))
    ap.add_argument("--initrd", default=os.path.join(ROOT, "build", "linux", "initramfs-net.cpio.gz"))
    ap.add_argument("--mib", type=int, default=16)
    ap.add_argument("--timeout", type=int, default=300)
    args = ap.parse_args()
    port = 20000 + os.getpid() % 20000
    t0 = time.time()
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        for role, ip, peer, nd in (("recv", "10.0.0.1", "10.0.0.2", f"socket,id=n0,listen=127.0.0.1:{port}"),
                                   ("send", "10.0.0.2", "10.0.0.1", f"socket,id=n0,connect=127.0.0.1:{port}")):
            mac = "52:54:00:00:00:0" + ip[-1]
            log = open(os.path.join(tmp, role + ".log"), "w+")
            cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", "256M", "-kernel", args.kernel,
                   "-initrd", args.initrd, "-append",
                   f"console=ttyS0 quiet panic=-1 hv.netrole={role} hv.ip={ip} hv.peer={peer} hv.netmib={args.mib}",
                   "-netdev", nd, "-device", f"virtio-net-pci,netdev=n0,mac={mac}",
                   "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"]
            procs.append((role, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
            time.sleep(1)  # the listening QEMU first
        deadline = t0 + args.timeout
        for _, p, _ in procs:
            try:
                p.wait(timeout=max(1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
        logs = {}
        for role, _, f in procs:
            f.seek(0)
            logs[role] = f.read()
            f.close()
    why = check_pair(logs["recv"], logs["send"], mib=args.mib)
    for role in ("recv", "send"):
        for line in logs[role].splitlines():
            if line.startswith(("NET", "LINUX TESTS")):
                print(f"  {role}: {line}")
    if why:
        for role in ("recv", "send"):
            print(f"--- {role}, last lines:")
            print("\n".join(logs[role].splitlines()[-15:]))
        print(f"net-qemu FAIL ({time.time() - t0:.1f}s): {why}")
        return 1
    print(f"net-qemu PASS ({time.time() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
