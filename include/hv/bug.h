/* Invariant checks. BUG_ON is for the hypervisor's own broken invariants and never returns; WARN_ON_ONCE reports a
 * recoverable oddity once per call site. Both stay active in release builds and in host unit tests, where the
 * platform's bug_report() aborts the test. Nothing a guest or a GRUB module can cause may reach BUG_ON. */
#ifndef HV_BUG_H
#define HV_BUG_H

#include "hv/compiler.h"

__noreturn void bug_report(const char *file, int line, const char *expr);
void warn_report(const char *file, int line, const char *expr);

#define BUG_ON(cond)                                                                                                   \
	do {                                                                                                           \
		if (unlikely(cond))                                                                                    \
			bug_report(__FILE__, __LINE__, #cond);                                                         \
	} while (0)

#define BUG() bug_report(__FILE__, __LINE__, "BUG")

#define WARN_ON_ONCE(cond)                                                                                             \
	({                                                                                                             \
		static bool __warned;                                                                                  \
		bool __c = !!(cond);                                                                                   \
		if (unlikely(__c) && !__warned) {                                                                      \
			__warned = true;                                                                               \
			warn_report(__FILE__, __LINE__, #cond);                                                        \
		}                                                                                                      \
		__c;                                                                                                   \
	})

#endif
