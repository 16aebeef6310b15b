/* llama.cpp's tokenizer test vectors (NAME.inp strings, NAME.out ids)
 * against a loaded vocabulary, shared by the tokenizer tests. */
#ifndef RZ_TEST_VOCAB_VECTORS_H
#define RZ_TEST_VOCAB_VECTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ryzanstein.h"

/* How detokenized ids must give the input back. */
typedef enum rz_test_round_trip {
    RZ_RT_EXACT,        /* byte for byte */
    RZ_RT_SPACE_PREFIX, /* with SentencePiece's leading space */
    RZ_RT_RETOKENIZE,   /* text that tokenizes to the same ids, unk aside (WordPiece) */
} rz_test_round_trip;

/* Tokens of text into *ids (malloc'd); returns the count. */
size_t rz_test_tokenize(const rz_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                        int32_t **ids);
/* Text of ids (malloc'd), its length in *len. */
char *rz_test_detokenize(const rz_model *m, const int32_t *ids, size_t n, size_t *len);

/* Every case of the shared files inp_rel/out_rel tokenizes to its line of
 * ids and detokenizes back as rt says (unk: the id RZ_RT_RETOKENIZE skips).
 * Fails the test otherwise; returns the number of cases. */
int rz_test_check_vectors(const rz_model *m, const char *inp_rel, const char *out_rel, rz_test_round_trip rt,
                          int32_t unk);

#endif
