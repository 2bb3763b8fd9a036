UNIT_SRCS_test_emulate_pio = $(EMU_UNIT_SRCS)
