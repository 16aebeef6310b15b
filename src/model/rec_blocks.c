#include "model/rec_blocks.h"

#include <string.h>

#include "kernels/matmul.h"

void rz_rec_matmul(rz_graph *g, const rz_tensor *w, const float *x, int64_t x_stride, float *y,
                   int64_t y_stride) {
    rz_matmul(g->pool, w, x, x_stride, y, y_stride, g->n_tokens, g->b->work);
}

void rz_rec_token_shift(rz_graph *g, float *sx, const float *x, int32_t l, int64_t at) {
    const int64_t E = g->m->desc.n_embd;
    for (uint32_t t = 0; t < g->n_tokens; t++) {
        const float *prev = rz_rec_first(g, t) ? rz_rec_state_of(g, t, l) + at : x + (t - 1) * E;
        for (int64_t i = 0; i < E; i++)
            sx[t * E + i] = prev[i] - x[t * E + i];
    }
    for (uint32_t t = 0; t < g->n_tokens; t++)
        if (rz_rec_last(g, t)) memcpy(rz_rec_state_of(g, t, l) + at, x + t * E, (size_t)E * sizeof *x);
}
