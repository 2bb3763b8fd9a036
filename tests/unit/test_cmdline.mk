UNIT_SRCS_test_cmdline := kernel/cmdline.c kernel/printf.c
