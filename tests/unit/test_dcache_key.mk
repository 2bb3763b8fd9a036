UNIT_SRCS_test_dcache_key = vm/dcache_key.c $(EMU_UNIT_SRCS) $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c
