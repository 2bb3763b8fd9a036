UNIT_SRCS_test_emulate = $(EMU_UNIT_SRCS)
