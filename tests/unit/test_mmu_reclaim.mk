UNIT_SRCS_test_mmu_reclaim = $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c
