UNIT_SRCS_test_acpi := drivers/acpi.c drivers/acpi_madt.c drivers/acpi_fadt.c tests/unit/acpi_fixture.c
