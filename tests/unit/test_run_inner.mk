UNIT_SRCS_test_run_inner :=
