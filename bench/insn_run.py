"""QEMU TCG runs counted in guest instructions by the bench/insn plugin, for the device sections of `make bench`
(bench/net.py, bench/disk.py). -icount cannot count them: the hypervisor with two busy CPUs does not get going under
its round-robin (bench/ageflush.py says the same of SMP VMs), so the plugin counts every instruction each vCPU of the
emulated machine executes, power-on to power-off. The clocks are then wall time: a figure is good to a few percent.
"""
import os
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PLUGIN = os.path.join(ROOT, "build", "bench", "insn.so")
QEMU = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-display", "none", "-monitor", "none", "-no-reboot"]


def build_plugin():
    src = os.path.join(HERE, "insn", "insn.c")
    if not os.path.exists(PLUGIN) or os.path.getmtime(PLUGIN) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(PLUGIN), exist_ok=True)
        subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror", "-shared", "-fPIC",
                        "-o", PLUGIN, src], check=True)


def run_counted(cmds, work, timeout):
    """Runs the QEMUs (started a second apart, the listening one first) to their power-off; returns the summed
    instruction count, or raises."""
    procs, counts = [], []
    try:
        for i, cmd in enumerate(cmds):
            counts.append(os.path.join(work, f"count{i}"))
            log = open(os.path.join(work, f"emu{i}.log"), "w")
            procs.append(subprocess.Popen(cmd + ["-plugin", f"{PLUGIN},out={counts[-1]}"], stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT, cwd=work, start_new_session=True))
            time.sleep(1)
        deadline = time.monotonic() + timeout
        for p in procs:
            p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    total = 0
    for c in counts:
        if not os.path.exists(c):
            raise RuntimeError("a QEMU left no instruction count")
        total += int(open(c).read())
    return total
