UNIT_SRCS_test_track_writers = $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c
