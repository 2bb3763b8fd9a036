UNIT_SRCS_test_monitor_parse := vm/monitor_parse.c
