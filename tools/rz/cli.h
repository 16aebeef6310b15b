/* Shared pieces of the rz subcommands. Uses only the public API. */
#ifndef RZ_CLI_H
#define RZ_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "ryzanstein.h"

typedef int (*rz_command_fn)(int argc, char **argv);

/* Each subcommand: argv[0] is the subcommand name. Returns the exit code. */
int rz_cmd_info(int argc, char **argv);

/* "rz SUBCMD: message: <last library error>" on stderr; returns 1. */
int rz_cli_fail(const char *command, const char *what);
/* "rz SUBCMD: message" on stderr (usage problems); returns 2. */
int rz_cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct rz_cli_progress {
    const char *label;
    bool enabled;
    int last_permille;
} rz_cli_progress;
void rz_cli_progress_init(rz_cli_progress *p, const char *label);
void rz_cli_progress_update(void *user, uint64_t done, uint64_t total);
void rz_cli_progress_finish(rz_cli_progress *p);

#endif
