UNIT_SRCS_test_acpi_tables := vm/dev/acpi_tables.c drivers/acpi.c drivers/acpi_madt.c drivers/acpi_fadt.c tests/unit/fake_vm.c
