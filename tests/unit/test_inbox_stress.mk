UNIT_SRCS_test_inbox_stress := vm/inbox.c vm/dev/vlapic.c vm/dev/vlapic_ipi.c vm/dev/vlapic_timer.c tests/unit/inbox_fixture.c
# The stress test runs poster threads. The Makefile has no per-test link flags, but its one-step compile-and-link
# rule uses HOST_CFLAGS, so a target-specific append reaches both.
$(BUILD)/unit/test_inbox_stress: HOST_CFLAGS += -pthread
