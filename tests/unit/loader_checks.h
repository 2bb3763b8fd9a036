/* Checks shared by the guest-loader tests (Multiboot, Linux): a refused image says why and writes nothing. */
#ifndef LOADER_CHECKS_H
#define LOADER_CHECKS_H

#include "fake_platform.h"

/* A load that must fail with err and the given message, leaving guest RAM untouched: the including test defines
 * ram_untouched() over its own fake RAM. */
#define CHECK_REJECT(call, err, msg)                                                                                   \
	do {                                                                                                           \
		CHECK_EQ((call), (u64)(s64)(err));                                                                     \
		CHECK_LAST_LOG(msg);                                                                                   \
		CHECK(ram_untouched());                                                                                \
	} while (0)

#endif
