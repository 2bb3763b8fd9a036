#!/usr/bin/env python3
"""The network section of `make bench` (bench/run.py --section net, or run alone): TCP throughput between two Linux
VMs, in instructions per byte, under the hypervisor (its virtio-net and virtual switch, vm/dev/virtio/net.c,
vswitch.c) and natively (two plain QEMUs, each with QEMU's virtio-net-pci, joined by -netdev socket).

The guests are tests/linux/net/init's in bench mode (hv.netbench): the sender pipes zeroes from dd into busybox nc,
the receiver's nc pipes them into wc -c; no checksum, no /dev/urandom. Each configuration runs with two transfer sizes
(SMALL and LARGE MiB); every run is counted in guest instructions executed, power-on to power-off, by a QEMU TCG
plugin (bench/insn/insn.c, built into build/bench/insn.so): -icount cannot be used, since the hypervisor with two busy
CPUs does not get going under its round-robin (bench/ageflush.py says the same of SMP VMs). The difference of the two
runs is what LARGE - SMALL MiB more cost, so boots, module loads, pings and power-off cancel out:
  instructions per byte = (count(LARGE) - count(SMALL)) / ((LARGE - SMALL) MiB)
  hypervisor  one QEMU, -smp 2: the hypervisor and both VMs, each on its own CPU; its count is all of both CPUs'
              instructions, guests' and hypervisor's (the frame copies, the exits of the doorbells and interrupts).
  native      two QEMUs, -smp 1 each, the sum of their counts: the guests' instructions alone (QEMU's device model
              and its socket run on the host, outside the count).
The clocks are wall time (TCG without -icount), so TCP's timers, and with them the count, vary a little from run to
run: the figure is good to a few percent, not to the instruction as the exit table's are. The plugin counts a
translated block whole when it starts, so an exception in its middle counts its tail too (rare next to 16 MiB).
The ratio hypervisor / native is then what the hypervisor adds per byte. The sender also prints its own time across
nc (BENCH net_send_Nm, guest seconds on the wall clock) which is shown, not used.

KVM as the peer (bench/kvm) is not measured here: its VMM (bench/kvm/vmm.c) runs one Multiboot test guest with no
virtio device, and two Linux guests under KVM talking over virtio-net would need a full VMM (QEMU or kvmtool) and a
tap bridge inside the peer's Linux, which its initramfs does not have.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from insn_run import QEMU, build_plugin, run_counted  # noqa: E402  (the instruction-counting QEMU runs)

KERNEL = "build/linux/vmlinuz"
INITRD = "build/linux/initramfs-net.cpio.gz"
SMALL, LARGE = 1, 17  # MiB
APPEND = "console=ttyS0 quiet panic=-1 hv.netbench hv.netrole={role} hv.ip={ip} hv.peer={peer} hv.netmib={mib}"
VMS = (("neta", "recv", "10.0.0.1", "10.0.0.2"), ("netb", "send", "10.0.0.2", "10.0.0.1"))
TIMEOUT = 900


def run_native(mib, out):
    """Two QEMUs joined by -netdev socket; returns (summed count, serial text of both)."""
    port = 21000 + (os.getpid() + mib) % 20000
    cmds, serials = [], []
    for i, (vm, role, ip, peer) in enumerate(VMS):
        nd = f"socket,id=n0,listen=127.0.0.1:{port}" if i == 0 else f"socket,id=n0,connect=127.0.0.1:{port}"
        serials.append(os.path.join(out, f"net-native-{mib}m-{vm}.serial.log"))
        cmds.append(QEMU + ["-smp", "1", "-m", "256M", "-kernel", os.path.join(ROOT, KERNEL),
                            "-initrd", os.path.join(ROOT, INITRD),
                            "-append", APPEND.format(role=role, ip=ip, peer=peer, mib=mib), "-netdev", nd,
                            "-device", f"virtio-net-pci,netdev=n0,mac=52:54:00:00:00:0{i + 1}",
                            "-serial", f"file:{serials[-1]}"])
    with tempfile.TemporaryDirectory() as work:
        n = run_counted(cmds, work, TIMEOUT)
    return n, "".join(open(s, errors="replace").read() for s in serials)


def run_hv(mib, out):
    """The hypervisor with both VMs on net=lan; returns (count, serial text)."""
    serial = os.path.join(out, f"net-hv-{mib}m.serial.log")
    with tempfile.TemporaryDirectory() as work:
        iso = os.path.join(work, "hv.iso")
        args = [os.path.join(ROOT, "scripts", "mkiso.sh"), iso, os.path.join(ROOT, "build", "hv.elf"),
                "loglevel=6 hv.panic=poweroff"]
        for vm, role, ip, peer in VMS:
            app = APPEND.format(role=role, ip=ip, peer=peer, mib=mib)
            args += [os.path.join(ROOT, KERNEL), f'vm={vm} mem=256M net=lan cmdline="{app}"',
                     os.path.join(ROOT, INITRD), f"vm={vm} role=initrd"]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        n = run_counted([QEMU + ["-smp", "2", "-m", "2G", "-cdrom", iso, "-boot", "d", "-serial", f"file:{serial}"]],
                        work, TIMEOUT)
    return n, open(serial, errors="replace").read()


def check(log, mib):
    """Problems with one run's lines (both VMs in one text)."""
    problems = []
    for pat in (rf"NET RECV PASS {mib << 20} bytes$", rf"NET SEND PASS {mib << 20} bytes$",
                rf"BENCH net_send_{mib}m [\d.]+$"):
        if not re.search(pat, log, re.M):
            problems.append(f"missing {pat}")
    if re.search(r"NET \S+ FAIL|Kernel panic|device needs reset|PANIC", log):
        problems.append("a failure line")
    return problems


def send_secs(log, mib):
    m = re.search(rf"BENCH net_send_{mib}m ([\d.]+)$", log, re.M)
    return float(m.group(1)) if m else None


def frames(log):
    """Frames the receiver's port took, from the switch's report (hypervisor runs)."""
    m = re.search(r"^vswitch lan: neta left: tx \d+ frames \d+ bytes, rx (\d+) frames", log, re.M)
    return int(m.group(1)) if m else None


def run_section(out):
    """Runs the four boots one after the other and prints the table; returns the list of problems."""
    os.makedirs(out, exist_ok=True)
    build_plugin()
    res, bad = {}, []
    for kind, fn in (("native", run_native), ("hypervisor", run_hv)):
        for mib in (SMALL, LARGE):
            t0 = time.monotonic()
            try:
                n, log = fn(mib, out)
                probs = check(log, mib)
            except Exception as e:  # noqa: BLE001  (a failed boot is a result)
                n, log, probs = None, "", [str(e)]
            print(f"  net {kind} {mib} MiB: {n} instructions, {time.monotonic() - t0:.0f} s wall (not a result)"
                  + (f"; PROBLEMS: {'; '.join(probs)}" if probs else ""), flush=True)
            if probs:
                bad.append(f"net {kind} {mib}m")
            res[kind, mib] = (n, log)
    print(f"\nnetwork: TCP from one VM to another, {LARGE - SMALL} MiB more between two runs (instructions executed, "
          f"power-on to power-off, counted by bench/insn)")
    per = {}
    for kind in ("native", "hypervisor"):
        (a, la), (b, lb) = res[kind, SMALL], res[kind, LARGE]
        if a is None or b is None:
            print(f"  {kind:<11} -")
            continue
        per[kind] = (b - a) / ((LARGE - SMALL) << 20)
        extra = ""
        fa, fb = frames(la), frames(lb)
        if fa is not None and fb is not None and fb > fa:
            extra = f", {(b - a) / (fb - fa):,.0f} per frame received ({fb - fa} frames)"
        secs = send_secs(lb, LARGE)
        print(f"  {kind:<11} {per[kind]:8.1f} instructions per byte{extra}; sender's nc: {secs} s for {LARGE} MiB "
              f"(guest time on the wall clock: not a result)")
    if len(per) == 2:
        print(f"  ratio hypervisor / native: {per['hypervisor'] / per['native']:.2f}")
    print("  KVM peer: not measured (bench/kvm's VMM has no virtio-net; see bench/net.py)")
    return bad


if __name__ == "__main__":
    sys.exit(1 if run_section(os.path.join(ROOT, "build", "bench")) else 0)
