UNIT_SRCS_test_rmap := mm/shadow/rmap.c mm/track/level.c mm/track/write.c mm/memslot.c mm/grace.c
