UNIT_SRCS_test_grace_wait := mm/grace.c
# A reader thread: -pthread reaches both compile and link through the one-step rule (see test_inbox_stress.mk).
$(BUILD)/unit/test_grace_wait: HOST_CFLAGS += -pthread
