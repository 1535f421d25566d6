/*
 * Diagnostic logging to standard error or syslog.
 *
 * The macros check the level before any formatting happens and prefix each
 * line with the calling function's name. Strings that came from a client
 * or a token go through log_escape() first. The audit log is a separate
 * facility and never goes through here.
 */
#ifndef CUSTODIAN_LOG_H
#define CUSTODIAN_LOG_H

#include <stddef.h>

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
};

/* Messages above this level are dropped unformatted. Default: INFO. */
extern int log_threshold;

/* Sets the name printed before every line (the program name). */
void log_init(const char *progname, int threshold);

/* Sends every later line to syslog (facility daemon) instead. */
void log_to_syslog(void);

/* Formats and writes one line; use the macros below instead. */
void log_write(int level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_at(level, ...)                                                     \
    do {                                                                       \
        if ((level) <= log_threshold)                                          \
            log_write((level), __func__, __VA_ARGS__);                         \
    } while (0)

#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Longest untrusted string log_escape() keeps, before escaping. */
#define LOG_ESCAPE_MAX 128

/*
 * Copies at most LOG_ESCAPE_MAX bytes of IN (LEN bytes, need not be
 * NUL-terminated) into OUT as printable ASCII: control and non-ASCII bytes
 * become \xHH, and "..." marks a cut. OUT must hold LOG_ESCAPE_BUF bytes.
 * Returns OUT.
 */
#define LOG_ESCAPE_BUF (LOG_ESCAPE_MAX * 4 + 4)
char *log_escape(const void *in, size_t len, char *out);

#endif
