# Parallel private and shared faults racing conversions; also in the ThreadSanitizer build (UNIT_TSAN_TESTS).
UNIT_SRCS_test_private_stress = $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c tests/unit/private_fixture.c
# The vCPU threads: -pthread reaches both compile and link through the one-step rule (see test_inbox_stress.mk).
$(BUILD)/unit/test_private_stress: HOST_CFLAGS += -pthread
