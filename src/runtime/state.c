/* A context's sequence state as bytes: what it needs to go on exactly where
 * it stopped (cache rows or recurrent state, the last logits and the tokens
 * the caller keeps with them), behind a header that names the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mapped_file.h"
#include "runtime/context.h"

#define STATE_MAGIC "RZSTATE"
enum { STATE_VERSION = 1 };

/* Native byte order: a state goes back into the build that wrote it (the
 * version field reads as nonsense elsewhere). */
typedef struct state_header {
    char magic[8];
    uint32_t version;
    uint32_t has_logits;
    char arch[32];
    int32_t n_vocab, n_embd, n_layer, n_head_kv;
    int64_t kv_dim, state_floats; /* state_floats: per layer, 0 for a transformer */
    uint64_t fingerprint;
    uint32_t type_k, type_v; /* the cache rows' types; unused by recurrent models */
    uint32_t n_past, n_tokens;
    uint64_t payload_bytes;
    uint64_t checksum; /* of the payload */
} state_header;

/* Payload: n_tokens int32 ids; the last logits row (n_vocab floats) if
 * has_logits; then a transformer's per-layer first kept position (uint32
 * each) and, layer by layer, the K rows then the V rows of positions
 * [first, n_past); or a recurrent model's n_layer states of state_floats. */

/* 64-bit multiply-xorshift hash over 8-byte words (the tail zero-padded):
 * cheap enough to run over gigabytes of cache rows. */
static uint64_t checksum(const unsigned char *p, uint64_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

/* Cheap identity of the weights beyond their shapes: the final norm's
 * values (raw floats whatever the ISA repacked; random-weight test models of
 * one shape differ in them). */
static uint64_t fingerprint(const rz_model *m) {
    uint64_t h = 0;
    const rz_tensor *norms[] = {&m->output_norm, &m->output_norm_b};
    for (size_t i = 0; i < sizeof norms / sizeof *norms; i++)
        if (norms[i]->data) h ^= checksum(norms[i]->data, norms[i]->row_bytes) + i;
    return h;
}

/* First position layer l keeps of n_past: a ring holds only its last rows. */
static uint32_t first_kept(const rz_kv_cache *c, uint32_t l, uint32_t n_past) {
    return c->ring[l] && n_past > c->ring[l] ? n_past - c->ring[l] : 0;
}

static void describe(const rz_context *ctx, uint32_t n_tokens, state_header *h) {
    const rz_model *m = ctx->model;
    const rz_kv_cache *c = &ctx->mem.kv;
    memset(h, 0, sizeof *h);
    memcpy(h->magic, STATE_MAGIC, sizeof STATE_MAGIC);
    h->version = STATE_VERSION;
    h->has_logits = rz_get_logits(ctx, -1) != NULL;
    memcpy(h->arch, m->desc.arch, sizeof h->arch);
    h->n_vocab = m->desc.n_vocab;
    h->n_embd = m->desc.n_embd;
    h->n_layer = m->desc.n_layer;
    h->n_head_kv = m->desc.n_head_kv;
    h->kv_dim = m->kv_dim;
    h->state_floats = m->recurrent ? m->rec.state_floats : 0;
    h->fingerprint = fingerprint(m);
    h->type_k = (uint32_t)c->type_k;
    h->type_v = (uint32_t)c->type_v;
    h->n_past = ctx->n_past;
    h->n_tokens = n_tokens;
    uint64_t bytes = (uint64_t)n_tokens * sizeof(int32_t);
    if (h->has_logits) bytes += (uint64_t)m->desc.n_vocab * sizeof(float);
    if (m->recurrent) {
        bytes += (uint64_t)m->desc.n_layer * (uint64_t)m->rec.state_floats * sizeof(float);
    } else {
        bytes += (uint64_t)m->desc.n_layer * sizeof(uint32_t);
        for (uint32_t l = 0; l < c->n_layer; l++)
            bytes +=
                (uint64_t)(ctx->n_past - first_kept(c, l, ctx->n_past)) * (c->k_row_bytes + c->v_row_bytes);
    }
    h->payload_bytes = bytes;
}

size_t rz_state_size(const rz_context *ctx, uint32_t n_tokens) {
    state_header h;
    describe(ctx, n_tokens, &h);
    return sizeof h + (size_t)h.payload_bytes;
}

static unsigned char *put(unsigned char *p, const void *src, uint64_t n) {
    memcpy(p, src, n);
    return p + n;
}

rz_status rz_state_get(const rz_context *ctx, const int32_t *tokens, uint32_t n_tokens, void *buf,
                       size_t size) {
    if (n_tokens != 0 && (n_tokens != ctx->n_past || !tokens))
        return rz_error(RZ_ERR_INVALID_ARG,
                        "state: %u tokens given for a context holding %u (give all or none)", n_tokens,
                        ctx->n_past);
    if (ctx->model->desc.encoder)
        return rz_error(RZ_ERR_UNSUPPORTED, "state: '%s' is an encoder: it keeps no sequence state",
                        ctx->model->desc.arch);
    state_header h;
    describe(ctx, n_tokens, &h);
    if (size < sizeof h + h.payload_bytes)
        return rz_error(RZ_ERR_RANGE, "state: %zu bytes do not hold the state's %llu", size,
                        (unsigned long long)(sizeof h + h.payload_bytes));
    const rz_model *m = ctx->model;
    const rz_kv_cache *c = &ctx->mem.kv;
    unsigned char *payload = (unsigned char *)buf + sizeof h, *p = payload;
    if (n_tokens) p = put(p, tokens, (uint64_t)n_tokens * sizeof *tokens);
    if (h.has_logits) p = put(p, rz_get_logits(ctx, -1), (uint64_t)m->desc.n_vocab * sizeof(float));
    if (m->recurrent) {
        for (int32_t l = 0; l < m->desc.n_layer; l++)
            p = put(p, rz_rec_layer(&ctx->mem, l), (uint64_t)m->rec.state_floats * sizeof(float));
    } else {
        for (uint32_t l = 0; l < c->n_layer; l++) {
            const uint32_t first = first_kept(c, l, ctx->n_past);
            p = put(p, &first, sizeof first);
        }
        for (uint32_t l = 0; l < c->n_layer; l++)
            for (int kv = 0; kv < 2; kv++)
                for (uint32_t pos = first_kept(c, l, ctx->n_past); pos < ctx->n_past; pos++) {
                    const uint32_t row = rz_kv_row_of(c, l, pos);
                    p = kv == 0 ? put(p, rz_kv_k_row(c, l, row), c->k_row_bytes)
                                : put(p, rz_kv_v_row(c, l, row), c->v_row_bytes);
                }
    }
    h.checksum = checksum(payload, h.payload_bytes);
    memcpy(buf, &h, sizeof h);
    return RZ_OK;
}

/* Every way the state may not fit ctx, checked before anything changes. */
static rz_status check(const rz_context *ctx, const unsigned char *buf, size_t size, state_header *h) {
    if (size < sizeof *h) return rz_error(RZ_ERR_FORMAT, "state: %zu bytes are too short for a header", size);
    memcpy(h, buf, sizeof *h);
    if (memcmp(h->magic, STATE_MAGIC, sizeof STATE_MAGIC) != 0)
        return rz_error(RZ_ERR_FORMAT, "state: not a Ryzanstein state (bad magic)");
    if (h->version != STATE_VERSION)
        return rz_error(RZ_ERR_FORMAT, "state: version %u, this build reads version %d", h->version,
                        STATE_VERSION);
    state_header want;
    describe(ctx, 0, &want);
    h->arch[sizeof h->arch - 1] = '\0';
    if (strcmp(h->arch, want.arch) != 0 || h->n_vocab != want.n_vocab || h->n_embd != want.n_embd ||
        h->n_layer != want.n_layer || h->n_head_kv != want.n_head_kv || h->kv_dim != want.kv_dim ||
        h->state_floats != want.state_floats)
        return rz_error(RZ_ERR_INVALID_ARG,
                        "state: saved from a %s model (%d layers, %d wide, %d tokens of vocabulary), "
                        "this context runs a %s model (%d layers, %d wide, %d tokens)",
                        h->arch, h->n_layer, h->n_embd, h->n_vocab, want.arch, want.n_layer, want.n_embd,
                        want.n_vocab);
    if (h->fingerprint != want.fingerprint)
        return rz_error(RZ_ERR_INVALID_ARG, "state: saved from other weights of the same %s shape", h->arch);
    const rz_model *m = ctx->model;
    if (!m->recurrent && (h->type_k != want.type_k || h->type_v != want.type_v))
        return rz_error(RZ_ERR_INVALID_ARG,
                        "state: the cache types are K %s / V %s, this context's are K %s / V %s",
                        rz_type_name((rz_type)h->type_k), rz_type_name((rz_type)h->type_v),
                        rz_type_name((rz_type)want.type_k), rz_type_name((rz_type)want.type_v));
    const rz_kv_cache *c = &ctx->mem.kv;
    if (h->n_past > c->n_ctx)
        return rz_error(RZ_ERR_RANGE, "state: holds %u tokens, this context has room for %u", h->n_past,
                        c->n_ctx);
    if (h->n_tokens != 0 && h->n_tokens != h->n_past)
        return rz_error(RZ_ERR_FORMAT, "state: %u tokens listed for %u held", h->n_tokens, h->n_past);
    /* The payload size this header implies, from its own per-layer firsts. */
    uint64_t bytes =
        (uint64_t)h->n_tokens * sizeof(int32_t) + (h->has_logits ? (uint64_t)h->n_vocab * sizeof(float) : 0);
    if (m->recurrent) {
        bytes += (uint64_t)h->n_layer * (uint64_t)h->state_floats * sizeof(float);
    } else {
        const uint64_t firsts = bytes;
        bytes += (uint64_t)h->n_layer * sizeof(uint32_t);
        if (size - sizeof *h < bytes) return rz_error(RZ_ERR_FORMAT, "state: truncated");
        for (uint32_t l = 0; l < c->n_layer; l++) {
            uint32_t first;
            memcpy(&first, buf + sizeof *h + firsts + l * sizeof first, sizeof first);
            if (first > h->n_past || first > first_kept(c, l, h->n_past))
                return rz_error(RZ_ERR_UNSUPPORTED,
                                "state: layer %u kept positions from %u of %u, this context needs them "
                                "from %u (sliding-window rings differ: use the same context and batch sizes)",
                                l, first, h->n_past, first_kept(c, l, h->n_past));
            bytes += (uint64_t)(h->n_past - first) * (c->k_row_bytes + c->v_row_bytes);
        }
    }
    if (bytes != h->payload_bytes || size - sizeof *h != bytes)
        return rz_error(RZ_ERR_FORMAT, "state: %zu bytes, its header describes %llu%s", size,
                        (unsigned long long)(sizeof *h + bytes),
                        size - sizeof *h < bytes ? " (truncated)" : "");
    if (checksum(buf + sizeof *h, bytes) != h->checksum)
        return rz_error(RZ_ERR_FORMAT, "state: checksum mismatch (the data is corrupt)");
    return RZ_OK;
}

static const unsigned char *take(void *dst, const unsigned char *p, uint64_t n) {
    memcpy(dst, p, n);
    return p + n;
}

rz_status rz_state_set(rz_context *ctx, const void *buf, size_t size, int32_t *tokens, uint32_t cap,
                       uint32_t *n_tokens) {
    state_header h;
    RZ_TRY(check(ctx, buf, size, &h));
    if (tokens && h.n_tokens > cap)
        return rz_error(RZ_ERR_RANGE, "state: %u tokens do not fit the %u given", h.n_tokens, cap);
    if (h.has_logits) RZ_TRY(rz_context_reserve(ctx, 1, 1));
    const rz_model *m = ctx->model;
    rz_kv_cache *c = &ctx->mem.kv;
    const unsigned char *p = (const unsigned char *)buf + sizeof h;
    if (tokens) memcpy(tokens, p, (size_t)h.n_tokens * sizeof *tokens);
    if (n_tokens) *n_tokens = h.n_tokens;
    p += (size_t)h.n_tokens * sizeof(int32_t);
    ctx->n_last = 0;
    if (h.has_logits) {
        p = take(ctx->logits, p, (uint64_t)m->desc.n_vocab * sizeof(float));
        ctx->row_of[0] = 0;
        ctx->n_last = 1;
    }
    if (m->recurrent) {
        for (int32_t l = 0; l < m->desc.n_layer; l++)
            p = take(rz_rec_layer(&ctx->mem, l), p, (uint64_t)m->rec.state_floats * sizeof(float));
    } else {
        uint32_t *first = malloc((size_t)c->n_layer * sizeof *first);
        if (!first) return rz_error(RZ_ERR_NOMEM, "out of memory");
        p = take(first, p, (uint64_t)c->n_layer * sizeof *first);
        for (uint32_t l = 0; l < c->n_layer; l++)
            for (int kv = 0; kv < 2; kv++)
                for (uint32_t pos = first[l]; pos < h.n_past; pos++) {
                    const uint32_t row = rz_kv_row_of(c, l, pos);
                    const uint64_t n = kv == 0 ? c->k_row_bytes : c->v_row_bytes;
                    void *dst = kv == 0 ? rz_kv_k_row(c, l, row) : rz_kv_v_row(c, l, row);
                    p = take(dst, p, n);
                    /* A ring keeps each position twice (see kv_cache.h). */
                    if (c->ring[l])
                        memcpy(kv == 0 ? rz_kv_k_row(c, l, row + c->ring[l])
                                       : rz_kv_v_row(c, l, row + c->ring[l]),
                               dst, n);
                }
        free(first);
    }
    ctx->n_past = h.n_past;
    return RZ_OK;
}

rz_status rz_state_save(const rz_context *ctx, const char *path, const int32_t *tokens, uint32_t n_tokens) {
    const size_t size = rz_state_size(ctx, n_tokens);
    void *buf = malloc(size);
    if (!buf) return rz_error(RZ_ERR_NOMEM, "out of memory for a state of %zu bytes", size);
    rz_status s = rz_state_get(ctx, tokens, n_tokens, buf, size);
    FILE *f = s == RZ_OK ? fopen(path, "wb") : NULL;
    if (s == RZ_OK && !f) s = rz_error(RZ_ERR_IO, "state: cannot create '%s'", path);
    if (f) {
        const bool written = fwrite(buf, 1, size, f) == size;
        if (fclose(f) != 0 || !written) {
            remove(path);
            s = rz_error(RZ_ERR_IO, "state: cannot write '%s'", path);
        }
    }
    free(buf);
    return s;
}

rz_status rz_state_load(rz_context *ctx, const char *path, int32_t *tokens, uint32_t cap,
                        uint32_t *n_tokens) {
    rz_mapped_file file;
    RZ_TRY(rz_mapped_file_open(path, &file));
    const rz_status s = rz_state_set(ctx, file.data, file.size, tokens, cap, n_tokens);
    rz_mapped_file_close(&file);
    return s;
}
