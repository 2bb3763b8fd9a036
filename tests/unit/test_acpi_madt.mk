UNIT_SRCS_test_acpi_madt := drivers/acpi.c drivers/acpi_madt.c drivers/acpi_fadt.c tests/unit/acpi_fixture.c
