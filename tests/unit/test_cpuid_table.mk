UNIT_SRCS_test_cpuid_table := vm/cpuid_table.c
