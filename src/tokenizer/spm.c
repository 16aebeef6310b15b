/* SentencePiece BPE ("llama" vocabularies): spaces become U+2581, UTF-8
 * characters merge by the score of the merged piece, and characters left
 * without a piece fall back to byte tokens <0xNN> (or <unk>). */
#include <string.h>

#include "base/error.h"
#include "tokenizer/tokenizer_internal.h"

static bool spm_pair_score(const rz_vocab *v, const char *text, uint32_t left_len, uint32_t right_len,
                           float *score) {
    int32_t id = rz_vocab_find(v, text, (size_t)left_len + right_len);
    if (id < 0) return false;
    *score = v->scores[id];
    return true;
}

static bool starts_space(const char *s, size_t avail) {
    return avail >= RZ_SPM_SPACE_LEN && memcmp(s, RZ_SPM_SPACE, RZ_SPM_SPACE_LEN) == 0;
}

static rz_status merge_chunk(const rz_vocab *v, rz_tok_work *w, const char *text, uint32_t len,
                             rz_token_sink *sink) {
    int32_t n_symbols;
    RZ_TRY(rz_merge_symbols(v, w, text, len, true, spm_pair_score, &n_symbols));
    for (int32_t i = n_symbols > 0 ? 0 : -1; i >= 0; i = w->symbols[i].next) {
        const rz_merge_symbol *s = &w->symbols[i];
        int32_t id = rz_vocab_find(v, text + s->start, s->len);
        if (id >= 0) {
            rz_sink_push(sink, id);
            continue;
        }
        /* Only single characters can lack a piece: merged symbols are pieces. */
        for (uint32_t k = 0; k < s->len; k++) {
            int32_t byte_id = v->byte_token[(unsigned char)text[s->start + k]];
            if (byte_id >= 0) {
                rz_sink_push(sink, byte_id);
            } else if (v->unk >= 0) {
                rz_sink_push(sink, v->unk); /* one <unk> for the whole character */
                break;
            }
        }
    }
    return RZ_OK;
}

rz_status rz_spm_tokenize(const rz_vocab *v, rz_tok_work *w, const char *text, size_t len, bool space_prefix,
                          rz_token_sink *sink) {
    /* Normalize: optional leading space, then every ' ' becomes U+2581. */
    size_t n_spaces = space_prefix ? 1 : 0;
    for (size_t i = 0; i < len; i++)
        n_spaces += text[i] == ' ';
    const size_t norm_len = len + 2 * n_spaces + (space_prefix ? 1 : 0);
    if (norm_len > UINT32_MAX / 4)
        return rz_error(RZ_ERR_RANGE, "tokenize: text of %zu bytes is too long", len);
    RZ_TRY(rz_tok_reserve((void **)&w->text, &w->text_cap, norm_len, 1));
    char *norm = w->text;
    size_t at = 0;
    if (space_prefix) {
        memcpy(norm, RZ_SPM_SPACE, RZ_SPM_SPACE_LEN);
        at = RZ_SPM_SPACE_LEN;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(norm + at, RZ_SPM_SPACE, RZ_SPM_SPACE_LEN);
            at += RZ_SPM_SPACE_LEN;
        } else {
            norm[at++] = text[i];
        }
    }
    /* Where no piece has a U+2581 after anything but U+2581, no merge can
     * cross into a word from the character before it, so each word merges
     * on its own: same result, far smaller queues. */
    for (size_t begin = 0, i = 0; begin < at; begin = i) {
        for (i = begin + 1; i < at; i++)
            if (v->spm_words_apart && starts_space(norm + i, at - i) &&
                !(i >= RZ_SPM_SPACE_LEN && starts_space(norm + i - RZ_SPM_SPACE_LEN, RZ_SPM_SPACE_LEN)))
                break;
        RZ_TRY(merge_chunk(v, w, norm + begin, (uint32_t)(i - begin), sink));
    }
    return RZ_OK;
}
