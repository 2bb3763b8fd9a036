UNIT_SRCS_test_tdp_mmu_age_young = $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c
