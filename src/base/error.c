#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { RZ_ERROR_MAX = 512 };

static _Thread_local char error_message[RZ_ERROR_MAX];

/* Messages quote names taken from hostile files: control bytes become '?'
 * so that every message stays one printable line. */
static void one_line(void) {
    for (char *p = error_message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

rz_status rz_error(rz_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    one_line();
    return status;
}

rz_status rz_error_prefix(rz_status status, const char *fmt, ...) {
    char previous[RZ_ERROR_MAX];
    memcpy(previous, error_message, sizeof previous);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 2 < sizeof error_message) {
        /* Truncating a long message is fine; it stays one line. */
        size_t room = sizeof error_message - (size_t)n;
        memcpy(error_message + n, ": ", 2);
        strncpy(error_message + n + 2, previous, room - 2);
        error_message[sizeof error_message - 1] = '\0';
    }
    one_line();
    return status;
}

void rz_error_clear(void) { error_message[0] = '\0'; }

const char *rz_last_error(void) { return error_message; }

const char *rz_status_name(rz_status status) {
    switch (status) {
    case RZ_OK: return "ok";
    case RZ_ERR_INVALID_ARG: return "invalid argument";
    case RZ_ERR_IO: return "I/O error";
    case RZ_ERR_FORMAT: return "malformed input";
    case RZ_ERR_NOMEM: return "out of memory";
    case RZ_ERR_NOT_FOUND: return "not found";
    case RZ_ERR_TYPE: return "wrong type";
    case RZ_ERR_UNSUPPORTED: return "unsupported";
    case RZ_ERR_RANGE: return "out of range";
    }
    return "unknown status";
}
