UNIT_SRCS_test_emulate_decode = $(EMU_UNIT_SRCS)
