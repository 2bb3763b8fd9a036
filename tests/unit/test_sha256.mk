UNIT_SRCS_test_sha256 := kernel/sha256.c
