UNIT_SRCS_test_tdp_mmu_age_stress = $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c
# The vCPU and ager threads: -pthread reaches both compile and link through the one-step rule (see test_inbox_stress.mk).
$(BUILD)/unit/test_tdp_mmu_age_stress: HOST_CFLAGS += -pthread
