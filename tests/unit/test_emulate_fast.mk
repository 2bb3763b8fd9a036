UNIT_SRCS_test_emulate_fast = $(EMU_UNIT_SRCS)
