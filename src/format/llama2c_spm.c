#include "format/llama2c_spm.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* llama.cpp token types. */
enum { TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_BYTE = 6 };

void rz_llama2c_spm_free(rz_llama2c_spm *v) {
    free(v->pieces);
    free(v->text);
    free(v->scores);
    free(v->types);
    memset(v, 0, sizeof *v);
}

static bool piece_is(rz_str piece, const char *s) {
    return piece.len == strlen(s) && memcmp(piece.ptr, s, piece.len) == 0;
}

static bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static bool is_byte_piece(rz_str p) {
    return p.len == 6 && memcmp(p.ptr, "<0x", 3) == 0 && is_hex(p.ptr[3]) && is_hex(p.ptr[4]) &&
           p.ptr[5] == '>';
}

rz_status rz_llama2c_spm_build(const rz_llama2c_vocab *src, rz_llama2c_spm *v) {
    memset(v, 0, sizeof *v);
    static const char space_marker[] = "\xe2\x96\x81"; /* U+2581 */
    const uint64_t marker_len = sizeof space_marker - 1;
    v->n_tokens = rz_llama2c_vocab_size(src);
    v->bos = v->eos = v->unk = -1;
    uint64_t text_len = 0;
    for (uint32_t i = 0; i < v->n_tokens; i++)
        text_len += rz_llama2c_vocab_piece(src, i).len * marker_len;
    v->pieces = rz_calloc(v->n_tokens, sizeof *v->pieces);
    v->text = rz_calloc(text_len + 1, 1);
    v->scores = rz_calloc(v->n_tokens, sizeof *v->scores);
    v->types = rz_calloc(v->n_tokens, sizeof *v->types);
    if (!v->pieces || !v->text || !v->scores || !v->types) {
        rz_llama2c_spm_free(v);
        return RZ_ERR_NOMEM;
    }
    char *out = v->text;
    for (uint32_t i = 0; i < v->n_tokens; i++) {
        rz_str piece = rz_llama2c_vocab_piece(src, i);
        v->scores[i] = rz_llama2c_vocab_score(src, i);
        v->types[i] = TOKEN_NORMAL;
        if (piece_is(piece, "\n<s>\n")) {
            piece = (rz_str){"<s>", 3};
            v->types[i] = TOKEN_CONTROL;
            v->bos = (int32_t)i;
        } else if (piece_is(piece, "\n</s>\n")) {
            piece = (rz_str){"</s>", 4};
            v->types[i] = TOKEN_CONTROL;
            v->eos = (int32_t)i;
        } else if (piece_is(piece, "<unk>")) {
            v->types[i] = TOKEN_UNKNOWN;
            v->unk = (int32_t)i;
        } else if (is_byte_piece(piece)) {
            v->types[i] = TOKEN_BYTE;
        }
        v->pieces[i].ptr = out;
        for (uint64_t j = 0; j < piece.len; j++) {
            if (piece.ptr[j] == ' ') {
                memcpy(out, space_marker, marker_len);
                out += marker_len;
            } else {
                *out++ = piece.ptr[j];
            }
        }
        v->pieces[i].len = (uint64_t)(out - v->pieces[i].ptr);
    }
    return RZ_OK;
}
