UNIT_SRCS_test_emulate_addr = $(EMU_UNIT_SRCS)
