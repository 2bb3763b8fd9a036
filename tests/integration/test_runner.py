"""Tests of the runner's own diagnosis: an emulator that dies is reported as exactly that, with its reason.

Run by `runner.py --selftest` (part of `make test`). Two cases start real emulators with a CPU model they do not
know, so they die before the guest prints a byte, as Bochs did when its sound thread aborted (issue 9).
"""
import os
import sys
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


if __name__ == "__main__":
    unittest.main()
