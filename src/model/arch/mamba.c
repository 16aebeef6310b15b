/* Mamba 1 and 2 (llama.cpp's "mamba", "mamba2"): RMS-normed layers of an
 * input projection, a causal depthwise conv1d, a selective state-space scan
 * gated by silu(z), and an output projection. A layer's state is its conv
 * window (the last conv_kernel - 1 inputs of each channel), then the scan
 * state of d_state per inner channel. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "kernels/ops.h"
#include "kernels/recurrent.h"
#include "model/arch.h"
#include "model/rec_blocks.h"

enum { NORM, IN, CONV, CONV_B, A, D, OUT, DT_B, N_COMMON };
enum { X = N_COMMON, DT, N_MAMBA1 };
enum { SSM_NORM = N_COMMON, N_MAMBA2 };

static const rz_rec_tensor mamba1_tensors[N_MAMBA1] = {
    [NORM] = {"attn_norm.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [IN] = {"ssm_in.weight", {RZ_RD_E, RZ_RD_INNER2, RZ_RD_1, RZ_RD_1}, true, false},
    [CONV] = {"ssm_conv1d.weight", {RZ_RD_CONV_K, RZ_RD_INNER, RZ_RD_1, RZ_RD_1}, false, false},
    [CONV_B] = {"ssm_conv1d.bias", {RZ_RD_INNER, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [A] = {"ssm_a", {RZ_RD_STATE, RZ_RD_INNER, RZ_RD_1, RZ_RD_1}, false, false},
    [D] = {"ssm_d", {RZ_RD_INNER, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [OUT] = {"ssm_out.weight", {RZ_RD_INNER, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},
    [DT_B] = {"ssm_dt.bias", {RZ_RD_INNER, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [X] = {"ssm_x.weight", {RZ_RD_INNER, RZ_RD_X_DB, RZ_RD_1, RZ_RD_1}, true, false},
    [DT] = {"ssm_dt.weight", {RZ_RD_DT_RANK, RZ_RD_INNER, RZ_RD_1, RZ_RD_1}, true, false},
};

static const rz_rec_tensor mamba2_tensors[N_MAMBA2] = {
    [NORM] = {"attn_norm.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [IN] = {"ssm_in.weight", {RZ_RD_E, RZ_RD_IN_PROJ, RZ_RD_1, RZ_RD_1}, true, false},
    [CONV] = {"ssm_conv1d.weight", {RZ_RD_CONV_K, RZ_RD_CONV, RZ_RD_1, RZ_RD_1}, false, false},
    [CONV_B] = {"ssm_conv1d.bias", {RZ_RD_CONV, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [A] = {"ssm_a", {RZ_RD_1, RZ_RD_DT_RANK, RZ_RD_1, RZ_RD_1}, false, false},
    [D] = {"ssm_d", {RZ_RD_1, RZ_RD_DT_RANK, RZ_RD_1, RZ_RD_1}, false, false},
    [OUT] = {"ssm_out.weight", {RZ_RD_INNER, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},
    [DT_B] = {"ssm_dt.bias", {RZ_RD_DT_RANK, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [SSM_NORM] = {"ssm_norm.weight", {RZ_RD_GROUP_INNER, RZ_RD_GROUPS, RZ_RD_1, RZ_RD_1}, false, false},
};

static const float *f32(const rz_layer *L, int slot) { return L->rec[slot].data; }

/* Channels of the conv (Mamba 1: d_inner; Mamba 2: x, B and C). */
static int64_t conv_channels(const rz_model *m) {
    return rz_rec_dim_size(m, m->arch->rec_tensors[CONV].ne[1], 0);
}

/* State of a layer: [conv window][scan state]. */
static int64_t scan_at(const rz_model *m) { return conv_channels(m) * (m->rec.d_conv - 1); }

/* A layer's per-token work, split between threads by channels (conv,
 * Mamba 1's scan) or heads (Mamba 2's scan), which are independent: each
 * thread walks a block of channels or one head at a time through all the
 * tokens in order, so that its state stays in cache from token to token
 * (rather than all of the layer's going by once per token). */
typedef struct ssm_job {
    const rz_graph *g;
    const rz_layer *L;
    int32_t l;
    const float *in; /* conv input rows, in_stride apart */
    int64_t in_stride;
    float *xc, *dt, *y; /* conv output (scan input), dt, scan output */
    float *z;           /* gate rows (silu taken in place) */
    const float *bc;    /* B, C rows (Mamba 1: x_db) */
    int64_t z_stride, bc_stride, dt_stride;
} ssm_job;

/* Conv of the rows `in` plus bias, then silu, into xc (n_ch wide), over
 * each sequence's run of tokens. */
static void conv_silu_task(void *arg, int ith, int nth) {
    const ssm_job *j = arg;
    const rz_graph *g = j->g;
    const int64_t n_ch = conv_channels(g->m), k = g->m->rec.d_conv;
    int64_t c0, c1;
    rz_split_range(n_ch, 16, ith, nth, &c0, &c1); /* whole AVX-512 vectors */
    for (uint32_t t0 = 0, t1; t0 < g->n_tokens; t0 = t1) {
        for (t1 = t0 + 1; !rz_rec_last(g, t1 - 1);)
            t1++;
        float *y = j->xc + t0 * n_ch;
        rz_ssm_conv(y + c0, n_ch, rz_rec_state_of(g, t0, j->l) + c0 * (k - 1), j->in + t0 * j->in_stride + c0,
                    j->in_stride, t1 - t0, f32(j->L, CONV) + c0 * k, c1 - c0, k);
        for (uint32_t t = 0; t < t1 - t0; t++) {
            for (int64_t c = c0; c < c1; c++)
                y[t * n_ch + c] += f32(j->L, CONV_B)[c];
            rz_silu(y + t * n_ch + c0, c1 - c0);
        }
    }
}

static void conv_silu(rz_graph *g, const rz_layer *L, int32_t l, const float *in, int64_t in_stride,
                      float *out) {
    ssm_job job = {.g = g, .L = L, .l = l, .in = in, .in_stride = in_stride, .xc = out};
    rz_threadpool_run(rz_rec_pool(g, (uint64_t)g->n_tokens * conv_channels(g->m) * g->m->rec.d_conv),
                      conv_silu_task, &job);
}

enum { SCAN_BLOCK = 64 }; /* Mamba 1's channels per walk (4 KiB of state at its usual d_state 16) */

/* y = (scan + x D) silu(z) for the channels [c0, c1) of Mamba 1. */
static void mamba1_scan_task(void *arg, int ith, int nth) {
    const ssm_job *j = arg;
    const rz_graph *g = j->g;
    const rz_rec_hparams *r = &g->m->rec;
    const int64_t di = r->d_inner, ds = r->d_state;
    int64_t first, end;
    rz_split_range(di, SCAN_BLOCK, ith, nth, &first, &end);
    for (int64_t c0 = first; c0 < end; c0 += SCAN_BLOCK) {
        const int64_t c1 = c0 + SCAN_BLOCK < end ? c0 + SCAN_BLOCK : end;
        for (uint32_t t = 0; t < g->n_tokens; t++) {
            float *yt = j->y + t * di, *dtt = j->dt + t * j->dt_stride;
            const float *xt = j->xc + t * di, *bc = j->bc + t * j->bc_stride;
            float *z = j->z + t * j->z_stride;
            for (int64_t c = c0; c < c1; c++)
                dtt[c] += f32(j->L, DT_B)[c];
            rz_ssm_scan1(yt + c0, rz_rec_state_of(g, t, j->l) + scan_at(g->m) + c0 * ds, xt + c0, dtt + c0,
                         f32(j->L, A) + c0 * ds, bc, bc + ds, c1 - c0, ds);
            rz_silu(z + c0, c1 - c0);
            for (int64_t c = c0; c < c1; c++)
                yt[c] = (yt[c] + xt[c] * f32(j->L, D)[c]) * z[c];
        }
    }
}

/* As mamba1_scan_task, head by head, for Mamba 2. */
static void mamba2_scan_task(void *arg, int ith, int nth) {
    const ssm_job *j = arg;
    const rz_graph *g = j->g;
    const rz_rec_hparams *r = &g->m->rec;
    const int64_t di = r->d_inner, ds = r->d_state, nh = r->dt_rank, ng = r->n_group, hd = di / nh;
    const int64_t n_ch = conv_channels(g->m);
    int64_t first, end;
    rz_split_range(nh, 1, ith, nth, &first, &end);
    for (int64_t h = first; h < end; h++)
        for (uint32_t t = 0; t < g->n_tokens; t++) {
            float *yt = j->y + t * di, *dt = j->dt + t * j->dt_stride;
            const float *xt = j->xc + t * n_ch;
            float *z = j->z + t * j->z_stride;
            dt[h] += f32(j->L, DT_B)[h];
            rz_ssm_scan2(yt, rz_rec_state_of(g, t, j->l) + scan_at(g->m), xt, dt, f32(j->L, A), xt + di,
                         xt + di + ng * ds, h, h + 1, nh, hd, ds, ng);
            rz_silu(z + h * hd, hd);
            for (int64_t c = h * hd; c < (h + 1) * hd; c++)
                yt[c] = (yt[c] + xt[c] * f32(j->L, D)[h]) * z[c];
        }
}

static void mamba1_layer(rz_graph *g, const rz_layer *L, int32_t l) {
    const rz_model *m = g->m;
    const rz_rec_hparams *r = &m->rec;
    const int64_t E = m->desc.n_embd, di = r->d_inner, ds = r->d_state, dtr = r->dt_rank, xdb = dtr + 2 * ds;
    rz_rec_scratch s = rz_rec_scratch_begin(g);
    float *xz = rz_rec_take(&s, 2 * di), *xc = rz_rec_take(&s, di), *x_db = rz_rec_take(&s, xdb),
          *dt = rz_rec_take(&s, di), *y = rz_rec_take(&s, di);
    for (uint32_t t = 0; t < g->n_tokens; t++)
        rz_rms_norm(g->b->xb + t * E, g->b->x + t * E, f32(L, NORM), E, m->desc.rms_eps);
    rz_rec_matmul(g, &L->rec[IN], g->b->xb, E, xz, 2 * di);
    conv_silu(g, L, l, xz, 2 * di, xc);
    rz_rec_matmul(g, &L->rec[X], xc, di, x_db, xdb);
    if (r->dt_b_c_rms) /* Falcon-Mamba: weightless RMS norms of dt, B and C */
        for (uint32_t t = 0; t < g->n_tokens; t++) {
            float *row = x_db + t * xdb;
            const int64_t at[] = {0, dtr, dtr + ds}, width[] = {dtr, ds, ds};
            for (int i = 0; i < 3; i++) {
                double sum = 0.0;
                for (int64_t j = 0; j < width[i]; j++)
                    sum += (double)(row[at[i] + j] * row[at[i] + j]);
                const float scale = 1.0f / sqrtf((float)(sum / (double)width[i]) + m->desc.rms_eps);
                for (int64_t j = 0; j < width[i]; j++)
                    row[at[i] + j] *= scale;
            }
        }
    rz_rec_matmul(g, &L->rec[DT], x_db, xdb, dt, di);
    ssm_job job = {.g = g,
                   .L = L,
                   .l = l,
                   .xc = xc,
                   .dt = dt,
                   .dt_stride = di,
                   .y = y,
                   .z = xz + di,
                   .z_stride = 2 * di,
                   .bc = x_db + dtr,
                   .bc_stride = xdb};
    rz_threadpool_run(rz_rec_pool(g, (uint64_t)g->n_tokens * di * ds), mamba1_scan_task, &job);
    rz_rec_matmul(g, &L->rec[OUT], y, di, g->b->xb, E);
    rz_add(g->b->x, g->b->xb, (int64_t)g->n_tokens * E);
}

static void mamba2_layer(rz_graph *g, const rz_layer *L, int32_t l) {
    const rz_model *m = g->m;
    const rz_rec_hparams *r = &m->rec;
    const int64_t E = m->desc.n_embd, di = r->d_inner, ng = r->n_group;
    const int64_t n_ch = conv_channels(m), in_w = rz_rec_dim_size(m, RZ_RD_IN_PROJ, l);
    rz_rec_scratch s = rz_rec_scratch_begin(g);
    float *zxbcdt = rz_rec_take(&s, in_w), *xbc = rz_rec_take(&s, n_ch), *y = rz_rec_take(&s, di);
    for (uint32_t t = 0; t < g->n_tokens; t++)
        rz_rms_norm(g->b->xb + t * E, g->b->x + t * E, f32(L, NORM), E, m->desc.rms_eps);
    rz_rec_matmul(g, &L->rec[IN], g->b->xb, E, zxbcdt, in_w);
    conv_silu(g, L, l, zxbcdt + di, in_w, xbc);
    ssm_job job = {.g = g,
                   .L = L,
                   .l = l,
                   .xc = xbc,
                   .dt = zxbcdt + di + n_ch,
                   .dt_stride = in_w,
                   .y = y,
                   .z = zxbcdt,
                   .z_stride = in_w};
    rz_threadpool_run(rz_rec_pool(g, (uint64_t)g->n_tokens * di * r->d_state), mamba2_scan_task, &job);
    for (int64_t row = 0; row < (int64_t)g->n_tokens * ng; row++) /* grouped: d_inner / n_group each */
        rz_rms_norm(y + row * (di / ng), y + row * (di / ng), f32(L, SSM_NORM) + row % ng * (di / ng),
                    di / ng, m->desc.rms_eps);
    rz_rec_matmul(g, &L->rec[OUT], y, di, g->b->xb, E);
    rz_add(g->b->x, g->b->xb, (int64_t)g->n_tokens * E);
}

static rz_status mamba_common(rz_model *m, const rz_gguf *g) {
    const char *a = m->desc.arch;
    rz_rec_hparams *r = &m->rec;
    RZ_TRY(rz_arch_key_u32(g, a, "ssm.conv_kernel", false, 0, &r->d_conv));
    RZ_TRY(rz_arch_key_u32(g, a, "ssm.inner_size", false, 0, &r->d_inner));
    RZ_TRY(rz_arch_key_u32(g, a, "ssm.state_size", false, 0, &r->d_state));
    RZ_TRY(rz_arch_key_u32(g, a, "ssm.time_step_rank", false, 0, &r->dt_rank));
    if (r->d_conv <= 0 || r->d_conv > 64 || r->d_inner <= 0 || r->d_inner > 1 << 20 || r->d_state <= 0 ||
        r->d_state > 4096 || r->dt_rank <= 0 || r->dt_rank > r->d_inner)
        return rz_error(RZ_ERR_FORMAT,
                        "model: SSM sizes (conv %d, inner %d, state %d, dt rank %d) are out of range",
                        r->d_conv, r->d_inner, r->d_state, r->dt_rank);
    return RZ_OK;
}

static rz_status mamba1_hparams(rz_model *m, const rz_gguf *g) {
    rz_rec_hparams *r = &m->rec;
    RZ_TRY(mamba_common(m, g));
    char key[96];
    snprintf(key, sizeof key, "%s.ssm.dt_b_c_rms", m->desc.arch);
    bool rms;
    if (rz_gguf_get_bool(g, key, &rms) == RZ_OK) r->dt_b_c_rms = rms;
    r->n_group = 1;
    r->state_floats = (int64_t)r->d_inner * (r->d_conv - 1) + (int64_t)r->d_inner * r->d_state;
    r->scratch_floats = 5 * (int64_t)r->d_inner + r->dt_rank + 2 * (int64_t)r->d_state;
    return RZ_OK;
}

static rz_status mamba2_hparams(rz_model *m, const rz_gguf *g) {
    rz_rec_hparams *r = &m->rec;
    RZ_TRY(mamba_common(m, g));
    RZ_TRY(rz_arch_key_u32(g, m->desc.arch, "ssm.group_count", false, 0, &r->n_group));
    if (r->d_inner % r->dt_rank != 0 || r->n_group <= 0 || r->d_inner % r->n_group != 0 ||
        r->dt_rank % r->n_group != 0)
        return rz_error(RZ_ERR_FORMAT, "model: Mamba 2 with %d heads and %d groups over d_inner %d",
                        r->dt_rank, r->n_group, r->d_inner);
    const int64_t n_ch = r->d_inner + 2 * (int64_t)r->n_group * r->d_state;
    r->state_floats = n_ch * (r->d_conv - 1) + (int64_t)r->d_inner * r->d_state;
    r->scratch_floats = (n_ch + r->d_inner + r->dt_rank) + n_ch + r->d_inner;
    return RZ_OK;
}

const rz_arch rz_arch_mamba = {
    .names = {"mamba"},
    .rec_tensors = mamba1_tensors,
    .n_rec_tensors = N_MAMBA1,
    .read_hparams = mamba1_hparams,
    .layer = mamba1_layer,
};

const rz_arch rz_arch_mamba2 = {
    .names = {"mamba2"},
    .rec_tensors = mamba2_tensors,
    .n_rec_tensors = N_MAMBA2,
    .read_hparams = mamba2_hparams,
    .layer = mamba2_layer,
};
