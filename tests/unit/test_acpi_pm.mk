UNIT_SRCS_test_acpi_pm := vm/dev/acpi_pm.c vm/dev/acpi_tables.c vm/io.c vm/irq.c vm/vtimer.c tests/unit/fake_vm.c
