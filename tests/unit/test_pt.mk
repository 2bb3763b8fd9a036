UNIT_SRCS_test_pt := mm/pt.c mm/pt_iter.c
