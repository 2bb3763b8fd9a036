UNIT_SRCS_test_track_writers = $(MMU_UNIT_SRCS) mm/shadow/gwalk.c tests/unit/tdp_mmu_fixture.c
