#include "kernels/matmul.h"

#include "tensor/type_traits.h"

/* Weight rows handled per tile: small enough that the tile stays in L1/L2
 * while every token of the batch streams past it. */
enum { ROWS_PER_TILE = 16 };

typedef struct matmul_job {
    const rz_tensor *w;
    rz_from_float_fn convert;
    rz_vec_dot_fn vec_dot;
    rz_gemm_tile_fn gemm_tile; /* NULL: rows of vec_dot */
    const float *x;
    int64_t x_stride;
    float *y;
    int64_t y_stride;
    int64_t n_tokens;
    const char *act; /* converted activations */
    uint64_t act_row_bytes;
    char *work;
} matmul_job;

size_t rz_matmul_work_size(const rz_tensor *w, int64_t n_tokens) {
    const rz_type_traits *t = rz_type_traits_get(w->type);
    if (t->vec_dot_type == RZ_TYPE_F32) return 0;
    return (size_t)(rz_row_bytes(rz_type_traits_get(t->vec_dot_type), (uint64_t)w->ne[0]) *
                    (uint64_t)n_tokens);
}

static void convert_task(void *arg, int ith, int nth) {
    matmul_job *job = arg;
    int64_t begin, end;
    rz_split_range(job->n_tokens, 1, ith, nth, &begin, &end);
    for (int64_t t = begin; t < end; t++)
        job->convert(job->x + t * job->x_stride, job->work + (uint64_t)t * job->act_row_bytes, job->w->ne[0]);
}

static void tiled_task(matmul_job *job, int64_t begin, int64_t end) {
    const rz_tensor *w = job->w;
    for (int64_t r = begin; r < end; r += RZ_GEMM_TILE) {
        const int nr = end - r < RZ_GEMM_TILE ? (int)(end - r) : RZ_GEMM_TILE;
        for (int64_t t = 0; t < job->n_tokens; t += RZ_GEMM_TILE_TOKENS) {
            const int nt =
                job->n_tokens - t < RZ_GEMM_TILE_TOKENS ? (int)(job->n_tokens - t) : RZ_GEMM_TILE_TOKENS;
            job->gemm_tile(w->ne[0], rz_tensor_row(w, r), w->row_bytes, nr,
                           job->act + (uint64_t)t * job->act_row_bytes, job->act_row_bytes, nt,
                           job->y + t * job->y_stride + r, job->y_stride);
        }
        if (w->scale != 0.0f) /* per-tensor scale (I2_S), as in the vec_dot path */
            for (int64_t t = 0; t < job->n_tokens; t++)
                for (int i = 0; i < nr; i++)
                    job->y[t * job->y_stride + r + i] *= w->scale;
    }
}

static void dot_task(void *arg, int ith, int nth) {
    matmul_job *job = arg;
    const rz_tensor *w = job->w;
    int64_t begin, end;
    rz_split_range(w->ne[1], ROWS_PER_TILE, ith, nth, &begin, &end);
    if (job->gemm_tile) {
        tiled_task(job, begin, end);
        return;
    }
    for (int64_t r0 = begin; r0 < end; r0 += ROWS_PER_TILE) {
        int64_t r1 = r0 + ROWS_PER_TILE < end ? r0 + ROWS_PER_TILE : end;
        for (int64_t t = 0; t < job->n_tokens; t++) {
            const void *a = job->act + (uint64_t)t * job->act_row_bytes;
            float *yt = job->y + t * job->y_stride;
            for (int64_t r = r0; r < r1; r++)
                job->vec_dot(w->ne[0], &yt[r], rz_tensor_row(w, r), a);
            if (w->scale != 0.0f)
                for (int64_t r = r0; r < r1; r++)
                    yt[r] *= w->scale;
        }
    }
}

void rz_matmul(rz_threadpool *pool, const rz_tensor *w, const float *x, int64_t x_stride, float *y,
               int64_t y_stride, int64_t n_tokens, void *work) {
    const rz_type_traits *t = rz_type_traits_get(w->type);
    matmul_job job = {
        .w = w,
        .vec_dot = rz_type_vec_dot(w->type, rz_isa_active()),
        /* One token gains nothing from tiles; GEMV stays on vec_dot. */
        .gemm_tile = n_tokens > 1 ? rz_type_gemm_tile(w->type, rz_isa_active()) : NULL,
        .x = x,
        .x_stride = x_stride,
        .y = y,
        .y_stride = y_stride,
        .n_tokens = n_tokens,
        .work = work,
    };
    if (t->vec_dot_type == RZ_TYPE_F32) {
        job.act = (const char *)x;
        job.act_row_bytes = (uint64_t)x_stride * sizeof(float);
    } else {
        const rz_type_traits *at = rz_type_traits_get(t->vec_dot_type);
        job.convert = rz_type_from_float_act(t->vec_dot_type, rz_isa_active());
        job.act_row_bytes = rz_row_bytes(at, (uint64_t)w->ne[0]);
        job.act = work;
        rz_threadpool_run(n_tokens > 1 ? pool : NULL, convert_task, &job);
    }
    rz_threadpool_run(pool, dot_task, &job);
}
