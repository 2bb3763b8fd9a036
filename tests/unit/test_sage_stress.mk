UNIT_SRCS_test_sage_stress = $(MMU_UNIT_SRCS) tests/unit/shadow_fixture.c
# The vCPU and ager threads: -pthread reaches both compile and link through the one-step rule (see test_inbox_stress.mk).
$(BUILD)/unit/test_sage_stress: HOST_CFLAGS += -pthread
