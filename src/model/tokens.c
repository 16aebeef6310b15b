/* Public tokenizer entry points over a model's vocabulary. */
#include <string.h>

#include "base/error.h"
#include "model/model.h"

static rz_status require_vocab(const rz_model *m) {
    if (!m->has_vocab)
        return rz_error(RZ_ERR_UNSUPPORTED, "model has no usable tokenizer: %s", m->vocab_error);
    return RZ_OK;
}

rz_status rz_tokenize(const rz_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                      int32_t *out, size_t cap, size_t *n_out) {
    RZ_TRY(require_vocab(m));
    if ((!text && len > 0) || (!out && cap > 0) || !n_out)
        return rz_error(RZ_ERR_INVALID_ARG, "tokenize: NULL text, output or count");
    return rz_vocab_tokenize(&m->vocab, text, len, add_special, parse_special, out, cap, n_out);
}

rz_status rz_token_piece(const rz_model *m, int32_t token, const char **piece, size_t *len) {
    RZ_TRY(require_vocab(m));
    if (token < 0 || (uint32_t)token >= m->vocab.n_tokens)
        return rz_error(RZ_ERR_INVALID_ARG, "token %d is outside the vocabulary [0, %u)", token,
                        m->vocab.n_tokens);
    *piece = rz_vocab_text(&m->vocab, token);
    *len = m->vocab.text_len[token];
    return RZ_OK;
}

bool rz_token_is_end(const rz_model *m, int32_t token) {
    for (int i = 0; i < m->n_end_tokens; i++)
        if (m->end_tokens[i] == token) return true;
    return false;
}

void rz_detokenizer_init(rz_detokenizer *d, const rz_model *model) {
    memset(d, 0, sizeof *d);
    d->model = model;
    d->prev_token = -1;
}

/* Length of the longest prefix of s made of complete UTF-8 sequences, with
 * an incomplete sequence only allowed to be cut at the very end. Invalid
 * bytes count as complete (they will never be completed). */
static size_t complete_utf8_prefix(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t need = c < 0x80             ? 1
                      : (c & 0xe0) == 0xc0 ? 2
                      : (c & 0xf0) == 0xe0 ? 3
                      : (c & 0xf8) == 0xf0 ? 4
                                           : 1;
        size_t k = 1;
        while (k < need && i + k < n && (s[i + k] & 0xc0) == 0x80)
            k++;
        if (k < need && i + k == n) return i; /* incomplete tail */
        i += k;
    }
    return n;
}

rz_status rz_detokenizer_push(rz_detokenizer *d, int32_t token, char *buf, size_t cap, size_t *len) {
    const char *piece;
    size_t piece_len;
    RZ_TRY(rz_token_piece(d->model, token, &piece, &piece_len));
    /* SentencePiece drops the space its prefix added to the first word. */
    const rz_vocab *v = &d->model->vocab;
    if (v->add_space_prefix && d->prev_token >= 0 && d->prev_token == v->bos && piece_len > 0 &&
        piece[0] == ' ') {
        piece++;
        piece_len--;
    }
    d->prev_token = token;
    const size_t total = (size_t)d->n_pending + piece_len;
    if (total > cap)
        return rz_error(RZ_ERR_RANGE, "detokenize: output buffer of %zu bytes is too small", cap);
    memcpy(buf, d->pending, (size_t)d->n_pending);
    memcpy(buf + d->n_pending, piece, piece_len);
    const size_t ready = complete_utf8_prefix((const unsigned char *)buf, total);
    /* The held-back tail is at most one incomplete character (< 4 bytes). */
    d->n_pending = (int)(total - ready);
    memcpy(d->pending, buf + ready, (size_t)d->n_pending);
    *len = ready;
    return RZ_OK;
}

rz_status rz_detokenize(const rz_model *m, const int32_t *tokens, size_t n, char *buf, size_t cap,
                        size_t *n_out) {
    rz_detokenizer d;
    rz_detokenizer_init(&d, m);
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        RZ_TRY(rz_detokenizer_push(&d, tokens[i], buf + out, cap - out, &len));
        out += len;
    }
    /* Whatever is still held back can never be completed: emit it as is. */
    if (out + (size_t)d.n_pending > cap)
        return rz_error(RZ_ERR_RANGE, "detokenize: output buffer is too small");
    memcpy(buf + out, d.pending, (size_t)d.n_pending);
    *n_out = out + (size_t)d.n_pending;
    return RZ_OK;
}
