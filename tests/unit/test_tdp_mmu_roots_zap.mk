UNIT_SRCS_test_tdp_mmu_roots_zap = $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c
