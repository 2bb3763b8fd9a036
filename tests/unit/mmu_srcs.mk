# The MMU layer and its engines, for the unit tests that build it whole (test_tdp_mmu_*, test_track_*).
MMU_UNIT_SRCS = mm/pt.c mm/pt_iter.c mm/spte_change.c mm/root.c mm/mmu.c mm/mmu_track.c mm/mmu_access.c \
	mm/ept/tdp_fault.c mm/ept/tdp_mirror.c mm/private.c mm/ept/tdp_huge.c mm/ept/tdp_zap.c mm/ept/tdp_mmu.c mm/ept/tdp_age.c mm/ept/tdp_fast.c \
	mm/track/level.c mm/track/write.c mm/shadow/rmap.c mm/memslot.c mm/memslot_dirty.c mm/grace.c mm/mmu_reclaim.c \
	mm/shadow/gwalk.c mm/shadow/spage.c mm/shadow/sfault.c \
	mm/shadow/swrite.c mm/shadow/unsync.c mm/shadow/sunprotect.c mm/shadow/sshare.c mm/shadow/sprefetch.c \
	mm/shadow/sage.c mm/shadow/szap.c
