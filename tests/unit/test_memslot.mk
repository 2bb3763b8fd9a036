UNIT_SRCS_test_memslot := mm/memslot.c mm/grace.c mm/track/level.c mm/track/write.c mm/shadow/rmap.c
