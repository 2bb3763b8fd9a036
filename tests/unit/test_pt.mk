UNIT_SRCS_test_pt := mm/pt.c mm/ept/tdp_iter.c
