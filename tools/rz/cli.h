/* Shared pieces of the rz subcommands. Uses only the public API. */
#ifndef RZ_CLI_H
#define RZ_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ryzanstein.h"

typedef int (*rz_command_fn)(int argc, char **argv);

/* Each subcommand: argv[0] is the subcommand name. Returns the exit code. */
int rz_cmd_info(int argc, char **argv);
int rz_cmd_convert(int argc, char **argv);
int rz_cmd_quantize(int argc, char **argv);
int rz_cmd_tensor(int argc, char **argv);
int rz_cmd_run(int argc, char **argv);
int rz_cmd_eval(int argc, char **argv);
int rz_cmd_tokenize(int argc, char **argv);
int rz_cmd_synth(int argc, char **argv);
int rz_cmd_bench(int argc, char **argv);
int rz_cmd_perplexity(int argc, char **argv);
int rz_cmd_serve(int argc, char **argv);
int rz_cmd_embed(int argc, char **argv);

/* rz info's report on a llama2.c checkpoint (info_llama2c.c); exit code. */
int rz_info_llama2c(const char *path, bool json);

/* "rz SUBCMD: message: <last library error>" on stderr; returns 1. */
int rz_cli_fail(const char *command, const char *what);
/* "rz SUBCMD: message" on stderr (usage problems); returns 2. */
int rz_cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whole file, byte-exact and NUL-terminated (*len excludes the NUL; len may
 * be NULL); NULL with errno set on failure. */
char *rz_cli_read_file(const char *path, size_t *len);

/* Progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct rz_cli_progress {
    const char *label;
    bool enabled;
    int last_permille;
} rz_cli_progress;
void rz_cli_progress_init(rz_cli_progress *p, const char *label);
void rz_cli_progress_update(void *user, uint64_t done, uint64_t total);
void rz_cli_progress_finish(rz_cli_progress *p);

/* Options shared by the commands that load a model and run it, spelled as
 * llama.cpp spells them. */
typedef struct rz_cli_model_opts {
    const char *model_path;
    rz_model_params model;
    rz_context_params context;
    rz_sampler_params sampling;
} rz_cli_model_opts;

void rz_cli_model_opts_init(rz_cli_model_opts *o);
/* If argv[*i] is one of the shared options, consume it (and its value) and
 * return 1; 0 if it is not one; -1 (after printing why) on a bad value. */
int rz_cli_parse_model_opt(const char *command, rz_cli_model_opts *o, int argc, char **argv, int *i);
/* Help text for the shared options. */
extern const char rz_cli_model_opts_help[];

/* A warning on stderr when the placement options cannot be met as asked
 * (--numa without a readable sysfs). */
void rz_cli_placement_warn(const char *command, const rz_context_params *p);
/* True if any of -C, -Cr, --cpu-strict, --numa was given. */
bool rz_cli_placement_asked(const rz_context_params *p);

/* Token ids from a list separated by spaces or commas (malloc'd into *ids);
 * 0, or 2 after printing why. */
int rz_cli_parse_ids(const char *command, const char *list, int32_t **ids, size_t *n);

/* Loads the model and creates a context; prints the load time on stderr. */
int rz_cli_load(const char *command, const rz_cli_model_opts *o, rz_model **model, rz_context **ctx);

#endif
