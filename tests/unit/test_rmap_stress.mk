UNIT_SRCS_test_rmap_stress := mm/shadow/rmap.c mm/track/level.c mm/track/write.c
# Reader threads: -pthread reaches both compile and link through the one-step rule (see test_inbox_stress.mk).
$(BUILD)/unit/test_rmap_stress: HOST_CFLAGS += -pthread
