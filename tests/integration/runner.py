#!/usr/bin/env python3
"""The test runner: host unit-test binaries and integration boots in QEMU and Bochs.

Unit binaries print `TEST <name> PASS|FAIL <reason>` per test. Integration cases (suite.py) each boot an ISO built
with the case's hypervisor command line and modules, read the serial log, check the expected and forbidden lines,
and require that the emulator ended by itself (the hypervisor powers off) before the case's timeout.
Closes with `N passed, N failed` and exits non-zero on any failure.
"""
import argparse
import concurrent.futures
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

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import suite  # noqa: E402
from logcheck import log_problems  # noqa: E402

BUILD = os.path.join(ROOT, "build")
OUT = os.path.join(BUILD, "it")
ELF = os.path.join(BUILD, "hv.elf")


# A ThreadSanitizer report ends the binary at once with this status, so the first race fails it (build/unit-tsan).
TSAN_OPTIONS = "halt_on_error=1 exitcode=66"
# What TSan of LLVM before 18 says when the kernel's ASLR (vm.mmap_rnd_bits above 28) places a mapping where its
# shadow layout has no room; the binary then runs again with randomization off for itself only (setarch -R).
TSAN_ASLR_CLASH = "ThreadSanitizer: unexpected memory mapping"


def run_unit_binary(b):
    """One unit binary: its stdout, stderr and exit status (-1 on timeout)."""
    env = dict(os.environ, TSAN_OPTIONS=f"{TSAN_OPTIONS} {os.environ.get('TSAN_OPTIONS', '')}".strip())
    out = err = ""
    for cmd in ([b], ["setarch", os.uname().machine, "-R", b]):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
        except subprocess.TimeoutExpired:
            return out, "timeout", -1
        out, err, rc = p.stdout, p.stderr, p.returncode
        if rc == 0 or TSAN_ASLR_CLASH not in err or not shutil.which("setarch"):
            break
    return out, err, rc


def test_jobs():
    """How many unit binaries, fuzz targets or emulator cases run at once (HV_TEST_JOBS, default 2)."""
    return max(1, int(os.environ.get("HV_TEST_JOBS", "2")))


def run_unit(bins):
    passed = failed = 0
    # Run side by side, reported in the order given (each binary is one process; the stress tests take seconds).
    with concurrent.futures.ThreadPoolExecutor(max_workers=test_jobs()) as ex:
        results = ex.map(lambda b: (b, run_unit_binary(b)), bins)
        for b, (out, err, rc) in results:
            p, f = report_unit(b, out, err, rc)
            passed += p
            failed += f
    return passed, failed


def report_unit(b, out, err, rc):
    """Print one unit binary's result; its (passed, failed) test counts."""
    # unit/test_x, or unit-tsan/test_x for the ThreadSanitizer build of the same test
    name = os.path.join(os.path.basename(os.path.dirname(os.path.abspath(b))), os.path.basename(b))
    n_pass = n_fail = 0
    for line in out.splitlines():
        m = re.match(r"TEST (\S+) (PASS|FAIL)(.*)", line)
        if not m:
            continue
        if m.group(2) == "PASS":
            n_pass += 1
        else:
            n_fail += 1
            print(f"FAIL {name}/{m.group(1)}:{m.group(3)}")
    if rc != 0 and n_fail == 0:
        # Crashed (sanitizer report) or died before reporting: count the binary as one failure.
        n_fail += 1
        print(f"FAIL {name}: exit status {rc}")
        print("\n".join(("    " + l) for l in (err or out).splitlines()[-30:]))
    print(f"{'PASS' if n_fail == 0 else 'FAIL'} {name}: {n_pass} passed, {n_fail} failed")
    sys.stdout.flush()
    return n_pass, n_fail


def run_fuzz(seconds):
    """Each libFuzzer target (tests/fuzz) runs for a bounded time; a crash or a build failure fails it."""
    passed = failed = 0
    targets = sorted(f[:-2] for f in os.listdir(os.path.join(ROOT, "tests", "fuzz"))
                     if f.startswith("fuzz_") and f.endswith(".c"))
    def one(t):
        return t, subprocess.run([os.path.join(ROOT, "tests", "fuzz", "run.sh"), str(seconds), t], cwd=ROOT,
                                 capture_output=True, text=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=test_jobs()) as ex:
        results = list(ex.map(one, targets))
    for t, p in results:
        if p.returncode == 0:
            passed += 1
            print(f"PASS fuzz/{t} ({seconds}s, no crash)")
        else:
            failed += 1
            print(f"FAIL fuzz/{t}: exit status {p.returncode}")
            print("\n".join("    " + l for l in (p.stdout + p.stderr).splitlines()[-20:]))
    return passed, failed


def build_iso(case, path):
    """The case's ISO at path. A module's file is a path (relative to the repository), or a function that makes the
    file when the case runs, in the case's work directory (its argument), and returns its path."""
    args = [os.path.join(ROOT, "scripts", "mkiso.sh"), path, ELF, case.cmdline]
    for mod, mcmd in case.modules:
        if callable(mod):
            mod = mod(os.path.dirname(path))
        args += [os.path.join(ROOT, mod) if not os.path.isabs(mod) else mod, mcmd]
    subprocess.run(args, check=True)


def ovmf_paths():
    for code, vars_ in (("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
                        ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd")):
        if os.path.exists(code) and os.path.exists(vars_):
            return code, vars_
    raise FileNotFoundError("OVMF firmware not found (Debian package ovmf)")


def serial_socket(work):
    return os.path.join(work, "serial.sock")


def monitor_socket(work):
    return os.path.join(work, "monitor.sock")


def kick(path, interval, done):
    """Stop and continue the QEMU machine through its monitor every `interval` seconds until `done` is set: each
    stop kicks every vCPU thread out of its TCG loop without an interrupt, the rare event behind issue 14 (an
    injected interrupt delivered twice by QEMU's VMRUN), made frequent."""
    sock = None
    while not done.is_set() and sock is None:
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
        except OSError:
            sock.close()
            sock = None
            time.sleep(0.05)
    if sock is None:
        return
    with sock:
        sock.settimeout(0)
        while not done.wait(interval):
            try:
                sock.sendall(b"stop\ncont\n")
                while sock.recv(65536):
                    pass
            except BlockingIOError:
                pass
            except OSError:
                return


def qemu_cmd(case, iso, serial, work):
    # A case that types on the serial line gets it as a socket QEMU waits on before it starts (nothing is lost); the
    # runner's interact() then keeps the log itself.
    line = (["-chardev", f"socket,id=con,path={serial_socket(work)},server=on,wait=on", "-serial", "chardev:con"]
            if case.interact else ["-serial", f"file:{serial}"])
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", case.cpu, "-smp", str(case.cpus), "-m", case.mem,
           "-machine", case.machine, "-cdrom", iso, "-boot", "d", "-display", "none", "-no-reboot",
           *line, "-monitor", f"unix:{monitor_socket(work)},server=on,wait=off" if case.kick_ms else "none",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
    if case.firmware == "efi":
        code, vars_ = ovmf_paths()
        local_vars = os.path.join(work, "vars.fd")
        shutil.copy(vars_, local_vars)
        cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
                "-drive", f"if=pflash,format=raw,unit=1,file={local_vars}"]
    if case.icount:
        cmd += ["-icount", case.icount]
    return cmd


def bochs_cmd(case, iso, serial, work, port):
    with open(os.path.join(ROOT, "scripts", "bochsrc.in")) as f:
        rc = f.read()
    for k, v in (("@ISO@", iso), ("@MODEL@", case.cpu), ("@SERIAL@", serial), ("@CPUS@", str(case.cpus)),
                 ("@MEGS@", str(case.megs)), ("@RFBPORT@", str(port))):
        rc = rc.replace(k, v)
    path = os.path.join(work, "bochsrc")
    with open(path, "w") as f:
        f.write(rc)
    return ["bochs", "-q", "-f", path]


# Lines of an emulator's own log that say nothing about why it stopped: Bochs's plugin loading, banners, its
# debugger prompt and the disassembly it prints at exit.
EMULATOR_NOISE = re.compile(r"^\s*$|^=+$|lt_dlhandle|loaded plugin|quit_sim called|^<bochs:\d+>|^\(\d+\)|^Next at t=|"
                            r"^\s*(Bochs x86 Emulator|Built from|Timestamp:)")


def last_meaningful_line(elog):
    """The emulator log's last line that could explain a death: Bochs's own exit message where it gave one, else
    the last line that is not noise, with Bochs's log prefix stripped."""
    m = re.findall(r"^Bochs is exiting with the following message:\n(.+)$", elog, re.M)
    if m:
        return m[-1].strip()
    for line in reversed(elog.splitlines()):
        if not EMULATOR_NOISE.search(line):
            return re.sub(r"^\d{11}[a-z]\[[^\]]*\]\s*", "", line.strip())
    return "(the emulator log is empty)"


def emulator_death(exited, rc, log, elog):
    """Why the emulator itself failed, or None. A process killed by a signal, or one that exited before the guest
    wrote a byte on its serial line, is reported as exactly that, with the emulator's own last words."""
    if not exited:
        return None
    if rc is not None and rc < 0:
        try:
            sig = signal.Signals(-rc).name
        except ValueError:
            sig = f"signal {-rc}"
        what = f"emulator died from {sig}"
    elif not log.strip():
        what = f"emulator exited with status {rc} before any serial output"
    else:
        return None
    return f"{what}: {last_meaningful_line(elog)!r}"


def check_log(case, log, exited, rc, elog=""):
    death = emulator_death(exited, rc, log, elog)
    if death:
        # The expected lines are all missing for one reason; listing them would hide it.
        return [death]
    problems = log_problems(log, case.expect, case.forbid, case.ordered)
    if case.check:
        problems += case.check(log)
    if not exited:
        problems.append(f"timed out after {case.timeout}s without powering off")
    elif case.emulator == "qemu" and case.exit_code is not None and rc != case.exit_code:
        problems.append(f"QEMU exit status {rc}, expected {case.exit_code}")
    return problems


def interact(path, serial, steps, deadline, problems):
    """Type on a QEMU serial line (a Unix socket): each step (regex, bytes) waits until regex matches the output
    after where the previous step's matched, then sends bytes. Everything read is appended to the serial log. A step
    still waiting when the emulator closes the line or the deadline passes is recorded in problems."""
    sock = None
    while time.monotonic() < deadline:
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            break
        except OSError:
            sock.close()
            sock = None
            time.sleep(0.05)
    if sock is None:
        problems.append("runner: could not connect to the serial socket")
        return
    buf, pos, step = "", 0, 0
    with sock, open(serial, "a") as log:
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            while step < len(steps):
                m = re.compile(steps[step][0], re.M).search(buf, pos)
                if not m:
                    break
                pos = m.end()
                try:
                    if steps[step][1]:
                        sock.sendall(steps[step][1])
                except OSError:
                    break  # the emulator closed the line: the step counts as not come
                step += 1
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            text = data.decode(errors="replace")
            log.write(text)
            log.flush()
            buf += text.replace("\r", "")
    if step < len(steps):
        problems.append(f"input step {step} never came: waited for /{steps[step][0]}/")


def run_case(case, port):
    work = tempfile.mkdtemp(prefix=f"hv-{case.name}-")
    iso = os.path.join(work, "hv.iso")
    serial = os.path.join(OUT, f"{case.name}.serial.log")
    os.makedirs(OUT, exist_ok=True)  # the runner's own tests call this first on a fresh tree
    open(serial, "w").close()
    t0 = time.monotonic()
    try:
        build_iso(case, iso)
        if case.emulator == "qemu":
            cmd, stdin = qemu_cmd(case, iso, serial, work), subprocess.DEVNULL
        else:
            cmd, stdin = bochs_cmd(case, iso, serial, work, port), subprocess.PIPE
        with open(os.path.join(OUT, f"{case.name}.emulator.log"), "w") as elogf:
            p = subprocess.Popen(cmd, stdin=stdin, stdout=elogf, stderr=subprocess.STDOUT, cwd=work,
                                 start_new_session=True)
            if stdin == subprocess.PIPE:
                # Bochs (built with its debugger) stops at a prompt at start-up: answer with "continue".
                p.stdin.write(b"c\n")
                p.stdin.close()
            typed = []
            typist = None
            kicked = threading.Event()
            kicker = None
            if case.kick_ms and case.emulator == "qemu":
                kicker = threading.Thread(target=kick, args=(monitor_socket(work), case.kick_ms / 1000, kicked),
                                          daemon=True)
                kicker.start()
            if case.interact and case.emulator == "qemu":
                typist = threading.Thread(target=interact, args=(serial_socket(work), serial, case.interact,
                                                                 t0 + case.timeout, typed), daemon=True)
                typist.start()
            exited = True
            try:
                rc = p.wait(timeout=case.timeout)
            except subprocess.TimeoutExpired:
                exited, rc = False, None
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            if typist:
                typist.join(5)
            kicked.set()
            if kicker:
                kicker.join(5)
        with open(serial, errors="replace") as f:
            log = f.read().replace("\r", "")
        with open(os.path.join(OUT, f"{case.name}.emulator.log"), errors="replace") as f:
            elog = f.read()
        problems = check_log(case, log, exited, rc, elog) + typed
    except Exception as e:  # a broken environment is a failure of this case, not of the runner
        problems, log = [f"runner error: {e}"], ""
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return case, problems, time.monotonic() - t0, log


def run_selftest():
    """The runner's own tests (test_runner.py), counted like any other."""
    import unittest
    import test_runner
    result = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(
        unittest.defaultTestLoader.loadTestsFromModule(test_runner))
    bad = {t.id(): msg for t, msg in result.failures + result.errors}
    for t in unittest.defaultTestLoader.loadTestsFromModule(test_runner):
        for one in t:
            if one.id() in bad:
                print(f"FAIL runner/{one.id()}\n" + "\n".join("    " + l for l in bad[one.id()].splitlines()[-8:]))
    n_fail = len(bad)
    n_pass = result.testsRun - n_fail
    print(f"{'PASS' if n_fail == 0 else 'FAIL'} runner selftest: {n_pass} passed, {n_fail} failed")
    return n_pass, n_fail


DURATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "durations.txt")


def longest_first(cases):
    """The cases in the order that ends soonest on a few workers: longest first (LPT), by durations.txt (one
    `name seconds` line per case, from an earlier run; a case it does not list counts as the longest, so a new case
    never ends up alone at the end). The suite's own order breaks ties."""
    secs = {}
    try:
        with open(DURATIONS) as f:
            for line in f:
                p = line.split()
                if len(p) == 2 and not line.startswith("#"):
                    secs[p[0]] = float(p[1])
    except OSError:
        return list(cases)
    top = max(secs.values(), default=0.0) + 1
    return sorted(cases, key=lambda c: -secs.get(c.name, top))


# A stall report's exit ring (64 lines a vCPU) would push out of a plain tail what says why the guest stopped: its
# last console lines and the report's vCPU states.
EXIT_RING_LINE = re.compile(r"stall: vcpu \d+ exit -\d+:")


def failure_tail(log, lines=30, ring=12):
    """What a failed case's log shows: its last `lines` lines other than exit-ring lines, then the last `ring`
    exit-ring lines."""
    all_lines = log.splitlines()
    other = [l for l in all_lines if not EXIT_RING_LINE.search(l)]
    exits = [l for l in all_lines if EXIT_RING_LINE.search(l)]
    return other[-lines:] + exits[-ring:]


def run_integration(only):
    os.makedirs(OUT, exist_ok=True)
    cases = longest_first([c for c in suite.CASES if not only or any(re.search(o, c.name) for o in only)])
    passed = failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=test_jobs()) as ex:
        futs = [ex.submit(run_case, c, 5900 + i) for i, c in enumerate(cases)]
        for fut in concurrent.futures.as_completed(futs):
            case, problems, secs, log = fut.result()
            if problems:
                failed += 1
                print(f"FAIL {case.name} ({secs:.1f}s): " + "; ".join(problems))
                print("\n".join("    | " + l for l in failure_tail(log)))
            else:
                passed += 1
                print(f"PASS {case.name} ({secs:.1f}s)")
            sys.stdout.flush()
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unit", nargs="*", default=[])
    ap.add_argument("--integration", action="store_true")
    ap.add_argument("--only", nargs="*", default=[], help="regexes selecting integration cases")
    ap.add_argument("--selftest", action="store_true", help="the runner's own tests (test_runner.py)")
    ap.add_argument("--fuzz", type=int, default=0, help="run each fuzz target for this many seconds")
    a = ap.parse_args()
    passed = failed = 0
    if a.unit:
        p, f = run_unit(a.unit)
        passed, failed = passed + p, failed + f
    if a.selftest:
        os.makedirs(OUT, exist_ok=True)
        p, f = run_selftest()
        passed, failed = passed + p, failed + f
    if a.fuzz:
        p, f = run_fuzz(a.fuzz)
        passed, failed = passed + p, failed + f
    if a.integration:
        p, f = run_integration(a.only)
        passed, failed = passed + p, failed + f
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
