/* Error reporting: a status code plus a thread-local one-line message. */
#ifndef RZ_BASE_ERROR_H
#define RZ_BASE_ERROR_H

#include "ryzanstein.h"

/* Record a failure for rz_last_error() and return `status` for chaining:
 *   return rz_error(RZ_ERR_FORMAT, "gguf: bad magic");  */
rz_status rz_error(rz_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the current message with context ("loading x: <old message>"). */
rz_status rz_error_prefix(rz_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void rz_error_clear(void);

#define RZ_TRY(expr)                                                                                         \
    do {                                                                                                     \
        rz_status rz_try_status_ = (expr);                                                                   \
        if (rz_try_status_ != RZ_OK) return rz_try_status_;                                                  \
    } while (0)

#endif
