UNIT_SRCS_test_emulate_vector = $(EMU_UNIT_SRCS)
