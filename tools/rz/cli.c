#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int rz_cli_fail(const char *command, const char *what) {
    fprintf(stderr, "rz %s: %s: %s\n", command, what, rz_last_error());
    return 1;
}

int rz_cli_usage_error(const char *command, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rz %s: ", command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

void rz_cli_progress_init(rz_cli_progress *p, const char *label) {
    p->label = label;
    p->enabled = isatty(STDERR_FILENO);
    p->last_permille = -1;
}

void rz_cli_progress_update(void *user, uint64_t done, uint64_t total) {
    rz_cli_progress *p = user;
    if (!p->enabled || total == 0) return;
    int permille = (int)(done * 1000 / total);
    if (permille == p->last_permille) return;
    p->last_permille = permille;
    enum { WIDTH = 40 };
    int filled = permille * WIDTH / 1000;
    fprintf(stderr, "\r%s [", p->label);
    for (int i = 0; i < WIDTH; i++) fputc(i < filled ? '#' : ' ', stderr);
    fprintf(stderr, "] %5.1f%%", permille / 10.0);
    fflush(stderr);
}

void rz_cli_progress_finish(rz_cli_progress *p) {
    if (p->enabled && p->last_permille >= 0) fputc('\n', stderr);
}
