# The instruction emulator whole, for the unit tests that build it (test_emulate*).
EMU_UNIT_SRCS = vm/emulate/alu.c vm/emulate/bits.c vm/emulate/bmi.c vm/emulate/dcache.c vm/emulate/decode.c \
	vm/emulate/emulate.c vm/emulate/exec.c vm/emulate/fastmov.c vm/emulate/muldiv.c vm/emulate/operand.c \
	vm/emulate/rmw.c vm/emulate/shift.c vm/emulate/stack.c vm/emulate/string.c vm/emulate/system.c \
	vm/emulate/vector.c
