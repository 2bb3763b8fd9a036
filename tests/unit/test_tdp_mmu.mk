UNIT_SRCS_test_tdp_mmu := mm/pt.c mm/ept/tdp_iter.c mm/ept/tdp_change.c mm/ept/tdp_root.c mm/ept/tdp_fault.c mm/ept/tdp_huge.c mm/ept/tdp_zap.c mm/ept/tdp_mmu.c mm/track/level.c vm/memslot.c
