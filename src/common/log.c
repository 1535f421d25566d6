/*
 * Diagnostic logging: one line per call, written with a single write so
 * that lines from different threads do not interleave, or handed whole
 * to syslog(3).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

int log_threshold = LOG_LEVEL_INFO;
static const char *log_progname = "custodian";

static bool log_syslog;

static const char *const log_level_names[] = {"error", "warning", "info",
                                              "debug"};
static const int log_priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

void
log_init(const char *progname, int threshold)
{
    log_progname = progname;
    log_threshold = threshold;
}

void
log_to_syslog(void)
{
    openlog(log_progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_syslog = true;
}

void
log_write(int level, const char *func, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n, m;

    if (level < LOG_LEVEL_ERROR || level > LOG_LEVEL_DEBUG)
        level = LOG_LEVEL_ERROR;
    /* Syslog names the program and the level itself. */
    if (log_syslog)
        n = snprintf(line, sizeof(line), "%s: ", func);
    else
        n = snprintf(line, sizeof(line), "%s: %s: %s: ", log_progname,
                     log_level_names[level], func);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;

    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n = (size_t)(n + m) >= sizeof(line) - 1 ? (int)sizeof(line) - 2 : n + m;
    if (log_syslog) {
        line[n] = '\0';
        syslog(log_priorities[level], "%s", line);
        return;
    }
    line[n++] = '\n';

    /* Nothing useful can be done if standard error is gone. */
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

char *
log_escape(const void *in, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = in;
    size_t i, o = 0, n = len > LOG_ESCAPE_MAX ? LOG_ESCAPE_MAX : len;

    for (i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
            out[o++] = (char)p[i];
            continue;
        }
        out[o++] = '\\';
        out[o++] = 'x';
        out[o++] = hex[p[i] >> 4];
        out[o++] = hex[p[i] & 0xf];
    }
    if (n < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}
