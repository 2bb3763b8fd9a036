UNIT_SRCS_test_vmcs_cache :=
