UNIT_SRCS_test_tdp_parallel = $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c
# The vCPU threads: -pthread reaches both compile and link through the one-step rule (see test_inbox_stress.mk).
$(BUILD)/unit/test_tdp_parallel: HOST_CFLAGS += -pthread
