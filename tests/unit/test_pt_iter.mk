UNIT_SRCS_test_pt_iter := mm/pt_iter.c mm/pt.c
