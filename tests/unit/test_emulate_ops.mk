UNIT_SRCS_test_emulate_ops = $(EMU_UNIT_SRCS)
