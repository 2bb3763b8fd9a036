UNIT_SRCS_test_vmx_caps := arch/x86/vmx/vmx_caps.c arch/x86/caps_text.c
