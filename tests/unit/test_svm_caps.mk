UNIT_SRCS_test_svm_caps := arch/x86/svm/svm_caps.c arch/x86/caps_text.c
