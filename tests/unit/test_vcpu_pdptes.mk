UNIT_SRCS_test_vcpu_pdptes = $(MMU_UNIT_SRCS) vm/pdptes.c
