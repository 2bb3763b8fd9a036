UNIT_SRCS_test_emulate_native = $(EMU_UNIT_SRCS)
