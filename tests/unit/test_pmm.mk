UNIT_SRCS_test_pmm := mm/pmm.c
