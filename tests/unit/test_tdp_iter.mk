UNIT_SRCS_test_tdp_iter := mm/ept/tdp_iter.c mm/pt.c
