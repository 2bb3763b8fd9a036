UNIT_SRCS_test_svm_nmi := arch/x86/svm/svm_nmi.c
