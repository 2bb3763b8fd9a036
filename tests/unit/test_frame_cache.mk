UNIT_SRCS_test_frame_cache = $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c
