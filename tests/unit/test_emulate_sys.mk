UNIT_SRCS_test_emulate_sys = $(EMU_UNIT_SRCS)
