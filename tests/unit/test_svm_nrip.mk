UNIT_SRCS_test_svm_nrip := arch/x86/svm/svm_nrip.c vm/emulate/task_switch.c $(EMU_UNIT_SRCS)
