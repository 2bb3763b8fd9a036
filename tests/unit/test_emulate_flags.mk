UNIT_SRCS_test_emulate_flags = $(EMU_UNIT_SRCS)
