UNIT_SRCS_test_rwlock :=
# Reader and writer threads: -pthread reaches both compile and link through the one-step rule (see test_inbox_stress.mk).
$(BUILD)/unit/test_rwlock: HOST_CFLAGS += -pthread
