# Private memory's MMU half against a fake owner whose direct map is the fake memory's page protections.
UNIT_SRCS_test_private = $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c tests/unit/private_fixture.c
