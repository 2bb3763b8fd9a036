UNIT_SRCS_test_tdp_parallel = $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c
# The vCPU threads: -pthread reaches both compile and link through the one-step rule (see test_inbox_stress.mk).
$(BUILD)/unit/test_tdp_parallel: HOST_CFLAGS += -pthread

# The bench (`make bench`, bench/run.py section "parallel"): the same sources, optimised, without sanitizers, whose
# bookkeeping would weigh more than the code measured.
UNIT_SRCS_bench_tdp_parallel = $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c
BENCH_CFLAGS := $(filter-out -fsanitize=% -fno-sanitize-recover=% -O1,$(HOST_CFLAGS)) -O2 -pthread
$(BUILD)/bench/bench_tdp_parallel: tests/unit/bench_tdp_parallel.c tests/unit/harness.c tests/unit/fake_platform.c $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c $(wildcard include/hv/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	@echo "  HOSTCC  $@"
	@$(HOSTCC) $(BENCH_CFLAGS) -o $@ $< $(UNIT_COMMON) $(MMU_UNIT_SRCS) tests/unit/tdp_mmu_fixture.c
