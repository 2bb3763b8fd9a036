UNIT_SRCS_test_svm_tcg_quirk := arch/x86/svm/svm_tcg_quirk.c
