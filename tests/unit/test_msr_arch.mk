UNIT_SRCS_test_msr_arch = vm/msr_arch.c
