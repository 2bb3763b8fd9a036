UNIT_SRCS_test_config_protect := vm/config.c vm/config_kernel.c kernel/cmdline.c kernel/printf.c tests/unit/config_fixture.c
