UNIT_SRCS_test_grace_stress := mm/grace.c
# Reader threads: -pthread reaches both compile and link through the one-step rule (see test_inbox_stress.mk).
$(BUILD)/unit/test_grace_stress: HOST_CFLAGS += -pthread
