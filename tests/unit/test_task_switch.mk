UNIT_SRCS_test_task_switch = vm/emulate/task_switch.c
