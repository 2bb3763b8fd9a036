/* Logging. Levels follow syslog; `loglevel=N` on the command line drops messages above N. The sink is the console
 * in the hypervisor and stderr in host unit tests (both provide log_printf). */
#ifndef HV_LOG_H
#define HV_LOG_H

#include "hv/compiler.h"

#define LOG_EMERG 0
#define LOG_ERR 3
#define LOG_WARN 4
#define LOG_NOTICE 5
#define LOG_INFO 6
#define LOG_DEBUG 7

void log_printf(int level, const char *fmt, ...) __printf(2, 3);

#define pr_emerg(...) log_printf(LOG_EMERG, __VA_ARGS__)
#define pr_err(...) log_printf(LOG_ERR, __VA_ARGS__)
#define pr_warn(...) log_printf(LOG_WARN, __VA_ARGS__)
#define pr_notice(...) log_printf(LOG_NOTICE, __VA_ARGS__)
#define pr_info(...) log_printf(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_printf(LOG_DEBUG, __VA_ARGS__)

#endif
