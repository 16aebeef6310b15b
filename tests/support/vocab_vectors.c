#include "vocab_vectors.h"

#include <stdlib.h>
#include <string.h>

#include "test_support.h"

static const char SEPARATOR[] = "\n__ggml_vocab_test__\n";

size_t rz_test_tokenize(const rz_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                        int32_t **ids) {
    size_t cap = len + 8, n = 0;
    *ids = malloc(cap * sizeof **ids);
    assert_non_null(*ids);
    RZ_ASSERT_OK(rz_tokenize(m, text, len, add_special, parse_special, *ids, cap, &n));
    return n;
}

char *rz_test_detokenize(const rz_model *m, const int32_t *ids, size_t n, size_t *len) {
    size_t cap = 64;
    for (size_t i = 0; i < n; i++) {
        const char *piece;
        size_t piece_len;
        RZ_ASSERT_OK(rz_token_piece(m, ids[i], &piece, &piece_len));
        cap += piece_len;
    }
    char *text = malloc(cap);
    assert_non_null(text);
    RZ_ASSERT_OK(rz_detokenize(m, ids, n, text, cap, len));
    return text;
}

static size_t parse_ids(const char *line, int32_t *ids, size_t cap) {
    size_t n = 0;
    for (char *end; *line; line = end) {
        long v = strtol(line, &end, 10);
        if (end == line) break;
        assert_true(n < cap);
        ids[n++] = (int32_t)v;
    }
    return n;
}

int rz_test_check_vectors(const rz_model *m, const char *inp_rel, const char *out_rel, rz_test_round_trip rt,
                          int32_t unk) {
    size_t inp_len, out_len;
    char *inp = rz_test_read_file(rz_test_shared_path(inp_rel), &inp_len);
    char *out = rz_test_read_file(rz_test_shared_path(out_rel), &out_len);
    assert_non_null(inp);
    assert_non_null(out);
    int cases = 0, failures = 0;
    char *line = out;
    for (char *at = inp; at < inp + inp_len;) {
        char *sep = strstr(at, SEPARATOR);
        if (!sep) break;
        const size_t len = (size_t)(sep - at);
        char *eol = strchr(line, '\n');
        assert_non_null(eol);
        *eol = '\0';
        int32_t expected[1024];
        const size_t n_expected = parse_ids(line, expected, 1024);
        int32_t *ids;
        const size_t n = rz_test_tokenize(m, at, len, false, false, &ids);
        if (n != n_expected || memcmp(ids, expected, n * sizeof *ids) != 0) {
            print_message("%s case %d ('%.*s'): got", inp_rel, cases, (int)(len < 40 ? len : 40), at);
            for (size_t i = 0; i < n; i++)
                print_message(" %d", ids[i]);
            print_message("\n  expected %s\n", line);
            failures++;
        }
        size_t text_len;
        char *text = rz_test_detokenize(m, ids, n, &text_len);
        bool ok;
        if (rt == RZ_RT_EXACT) {
            ok = text_len == len && memcmp(text, at, len) == 0;
        } else if (rt == RZ_RT_SPACE_PREFIX) {
            ok = len == 0 ? text_len == 0
                          : text_len == len + 1 && text[0] == ' ' && memcmp(text + 1, at, len) == 0;
        } else { /* the same ids again, but for unk (a control token: no text) */
            int32_t *again;
            const size_t n_again = rz_test_tokenize(m, text, text_len, false, false, &again);
            size_t k = 0;
            ok = true;
            for (size_t i = 0; i < n; i++) {
                if (ids[i] == unk) continue;
                ok = ok && k < n_again && again[k] == ids[i];
                k++;
            }
            ok = ok && k == n_again;
            free(again);
        }
        if (!ok) {
            print_message("%s case %d: detokenized to '%.*s'\n", inp_rel, cases, (int)text_len, text);
            failures++;
        }
        free(text);
        free(ids);
        line = eol + 1;
        at = sep + strlen(SEPARATOR);
        cases++;
    }
    free(inp);
    free(out);
    assert_int_equal(failures, 0);
    return cases;
}
