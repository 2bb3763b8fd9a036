"""Tests of the runner's own diagnosis: an emulator that dies is reported as exactly that, with its reason.

Run by `runner.py --selftest` (part of `make test`). Two cases start real emulators with a CPU model they do not
know, so they die before the guest prints a byte, as Bochs did when its sound thread aborted (issue 9).
"""
import contextlib
import io
import os
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runner  # noqa: E402
import suite  # noqa: E402

# The end of a real Bochs 2.7 log from a machine without a sound card, before `sound: driver=dummy`.
BOCHS_SOUND_ABORT = """00000000000i[PLUGIN] loaded plugin libbx_unmapped.so
00000000000i[      ] reading configuration from /tmp/hv-x/bochsrc
ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM default
*** buffer overflow detected ***: terminated
"""

BOCHS_POWEROFF = """<bochs:1> c
00259756600p[ACPI  ] >>PANIC<< ACPI control: soft power off
========================================================================
Bochs is exiting with the following message:
[ACPI  ] ACPI control: soft power off
========================================================================
(0).[259756600] [0x000000215c30] 0008:ffffffff80215c30 (unk. ctxt): out dx, ax                ; 66ef
"""


class Diagnosis(unittest.TestCase):
    def test_signal_before_output(self):
        self.assertEqual(runner.emulator_death(True, -6, "", BOCHS_SOUND_ABORT),
                         "emulator died from SIGABRT: '*** buffer overflow detected ***: terminated'")

    def test_signal_after_output(self):
        d = runner.emulator_death(True, -11, "hv: booting\n", "qemu: something\n")
        self.assertEqual(d, "emulator died from SIGSEGV: 'qemu: something'")

    def test_exit_before_output_quotes_bochs_message(self):
        d = runner.emulator_death(True, 1, "", BOCHS_POWEROFF)
        self.assertEqual(d, "emulator exited with status 1 before any serial output: "
                            "'[ACPI  ] ACPI control: soft power off'")

    def test_normal_end_is_not_a_death(self):
        self.assertIsNone(runner.emulator_death(True, 0, "hv: boot complete\n", BOCHS_POWEROFF))
        self.assertIsNone(runner.emulator_death(False, None, "", ""))

    def test_death_replaces_missing_lines(self):
        case = suite.Case("x", "qemu", "max", expect=[r"^hv: boot complete"])
        self.assertEqual(runner.check_log(case, "", True, -9, ""),
                         ["emulator died from SIGKILL: '(the emulator log is empty)'"])


# A stand-in for a TSan binary on a kernel whose ASLR TSan cannot live with: it fails as LLVM 14's TSan does unless
# it runs with ADDR_NO_RANDOMIZE (0x0040000) in its personality, or always with "always".
FAKE_TSAN = """#!/bin/sh
read p < /proc/self/personality
if [ "$1" != always ] && [ $((0x$p & 0x0040000)) -ne 0 ]; then
  echo "TEST fake PASS"; echo "1 passed, 0 failed"; exit 0
fi
echo "FATAL: ThreadSanitizer: unexpected memory mapping 0x55f6d1c4e000-0x55f6d1c50000" >&2
exit 66
"""


class UnitBinaries(unittest.TestCase):
    def run_fake(self, arg=""):
        """run_unit's (passed, failed) for FAKE_TSAN, and what it printed."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "test_fake")
            with open(path, "w") as f:
                f.write(FAKE_TSAN.replace('"$1"', f'"{arg}"'))
            os.chmod(path, stat.S_IRWXU)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                counts = runner.run_unit([path])
        return counts, out.getvalue()

    def test_tsan_aslr_clash_reruns_without_randomization(self):
        self.assertEqual(self.run_fake()[0], (1, 0))

    def test_tsan_failure_that_persists_still_fails(self):
        counts, out = self.run_fake("always")
        self.assertEqual(counts, (0, 1))
        self.assertIn("exit status 66", out)


class RealEmulators(unittest.TestCase):
    def check(self, emulator, reason):
        case = suite.Case(f"selftest-{emulator}-dies", emulator, "nosuchcpu", timeout=30)
        _, problems, _, _ = runner.run_case(case, 5999)
        self.assertEqual(len(problems), 1, problems)
        self.assertRegex(problems[0], r"^emulator exited with status 1 before any serial output: .*" + reason)

    def test_qemu_dies_at_start(self):
        self.check("qemu", "unable to find CPU model 'nosuchcpu'")

    def test_bochs_dies_at_start(self):
        self.check("bochs", "cpu directive malformed")


class Order(unittest.TestCase):
    def test_longest_first(self):
        cases = [suite.Case(n, "qemu", "max") for n in ("a", "b", "c", "new")]
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("# name seconds\na 10\nb 30.5\nc 20\ngone 99\n")
        old, runner.DURATIONS = runner.DURATIONS, f.name
        try:
            self.assertEqual([c.name for c in runner.longest_first(cases)], ["new", "b", "c", "a"])
            runner.DURATIONS = f.name + ".missing"
            self.assertEqual([c.name for c in runner.longest_first(cases)], ["a", "b", "c", "new"])
        finally:
            runner.DURATIONS = old
            os.unlink(f.name)


class FailureTail(unittest.TestCase):
    def test_exit_ring_does_not_hide_console_and_states(self):
        log = ["boot %d" % i for i in range(40)] + ["vm x: stall report 1 of 3", "vm x: stall: vcpu 0 rip 10:1"]
        log += ["vm x: stall: vcpu %d exit -%d: hlt (hw 12) at 1, 0" % (i % 2, 64 - i // 2) for i in range(128)]
        tail = runner.failure_tail("\n".join(log), lines=5, ring=3)
        self.assertEqual(tail[:5], ["boot 37", "boot 38", "boot 39", "vm x: stall report 1 of 3",
                                    "vm x: stall: vcpu 0 rip 10:1"])
        self.assertEqual(len(tail), 8)
        self.assertTrue(all(runner.EXIT_RING_LINE.search(l) for l in tail[5:]))


class Interact(unittest.TestCase):
    """runner.interact, which types on a QEMU serial socket (the console multiplexer's cases): each step waits for
    its line after the previous step's, sends its bytes, and the log keeps everything read."""

    def serve(self, path, script):
        import socket
        import threading
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
        got = []

        def run():
            conn, _ = srv.accept()
            with conn:
                for out, want in script:
                    conn.sendall(out)
                    data = b""
                    conn.settimeout(5)
                    while len(data) < len(want):
                        chunk = conn.recv(64)
                        if not chunk:
                            break
                        data += chunk
                    got.append(data)
            srv.close()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, got

    def test_steps_in_order(self):
        import time
        with tempfile.TemporaryDirectory() as d:
            path, log = os.path.join(d, "s"), os.path.join(d, "log")
            open(log, "w").close()
            # "ready" appears twice: the second step must wait for the one after the first step's match.
            t, got = self.serve(path, [(b"boot\r\nready\r\n", b"one"), (b"ready\r\n", b"two"), (b"bye\n", b"")])
            problems = []
            runner.interact(path, log, [(r"^ready$", b"one"), (r"^ready$", b"two"), (r"^bye$", b"")],
                            time.monotonic() + 10, problems)
            t.join(5)
            self.assertEqual(problems, [])
            self.assertEqual(got, [b"one", b"two", b""])
            with open(log) as f:
                self.assertEqual(f.read().replace("\r", ""), "boot\nready\nready\nbye\n")

    def test_step_that_never_comes(self):
        import time
        with tempfile.TemporaryDirectory() as d:
            path, log = os.path.join(d, "s"), os.path.join(d, "log")
            open(log, "w").close()
            t, _ = self.serve(path, [(b"other\n", b"")])
            problems = []
            runner.interact(path, log, [(r"^ready$", b"x")], time.monotonic() + 3, problems)
            t.join(5)
            self.assertEqual(problems, ["input step 0 never came: waited for /^ready$/"])


if __name__ == "__main__":
    unittest.main()
