UNIT_SRCS_test_emulate_flags := vm/emulate/alu.c vm/emulate/decode.c vm/emulate/emulate.c vm/emulate/exec.c vm/emulate/string.c
