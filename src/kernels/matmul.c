#include "kernels/matmul.h"

#include <stdatomic.h>

#include "base/mem.h"
#include "tensor/type_traits.h"

/* Each thread owns a contiguous share of the rows and claims it in chunks of
 * at most MAX_CHUNK_BYTES of weights; one that finishes early takes chunks
 * from the others' shares (the machine is shared, so equal shares rarely
 * finish together). Small matrices get smaller chunks, about
 * CHUNKS_PER_SHARE per thread. Chunks are claimed as UNITS_PER_CHUNK units,
 * and the last chunk's worth of a share one unit at a time, so that the
 * last piece of work the others wait for is short. Interleaving small chunks
 * between threads from the start read DRAM measurably slower than
 * contiguous shares. A GEMV gives each thread two shares, read at once
 * (gemv_task). */
enum {
    MAX_CHUNK_BYTES = 128 * 1024,
    MIN_CHUNK_BYTES = 16 * 1024,
    CHUNKS_PER_SHARE = 8,
    UNITS_PER_CHUNK = 4,
    CHUNK_ROW_ALIGN = 16,
    MAX_SHARES = 64,
    ACT_BLOCK_BYTES = 512 * 1024
};

typedef struct matmul_part {
    const rz_tensor *w;
    float *y;
    int64_t y_stride;
    rz_vec_dot_fn vec_dot;
    rz_vec_dot2_fn vec_dot2;    /* NULL: none */
    const rz_gemm_kernel *gemm; /* NULL: rows of vec_dot */
    rz_type act_type;           /* rz_type_act_type: what x is converted to */
    bool scaled;                /* rows are multiplied by w->scale (type trait tensor_scale) */
    const char *act;
    uint64_t act_row_bytes;
    int64_t n_tokens;
    int64_t unit_rows, first_unit; /* this part's units start at first_unit */
} matmul_part;

typedef struct matmul_job {
    matmul_part parts[RZ_MATMUL_MAX_PARTS];
    int n_parts;
    int64_t n_units;
    int n_shares;
    bool two_streams; /* a GEMV: two shares per thread (gemv_task) */
    struct {
        _Alignas(64) atomic_int_fast64_t next; /* next unclaimed unit of the share */
        int64_t end;
    } shares[MAX_SHARES];
    /* what each thread prefetches once out of chunks */
    rz_threadpool *pool;
    const rz_tensor *const *next;
    int n_next;
    /* activation conversion */
    rz_from_float_fn convert;
    const float *x;
    int64_t x_stride, n, n_tokens;
    char *act;
    uint64_t act_row_bytes;
} matmul_job;

/* Scratch for n_tokens rows of ne0 activations of type at (none for F32:
 * x is read in place). */
static size_t act_bytes(rz_type at, int64_t ne0, int64_t n_tokens) {
    if (at == RZ_TYPE_F32) return 0;
    return (size_t)rz_align_up(rz_row_bytes(rz_type_traits_get(at), (uint64_t)ne0) * (uint64_t)n_tokens, 64);
}

size_t rz_matmul_work_size(const rz_tensor *w, int64_t n_tokens) {
    /* Room for the tiles' activations and for vec_dot's: callers size the
     * scratch for their largest batch and run single tokens in it too. */
    const rz_gemm_kernel *g = n_tokens > 1 ? rz_type_gemm(w->type, rz_isa_active()) : NULL;
    const size_t tiles = act_bytes(rz_type_act_type(w->type, g), w->ne[0], n_tokens);
    const size_t rows = act_bytes(rz_type_act_type(w->type, NULL), w->ne[0], n_tokens);
    return tiles > rows ? tiles : rows;
}

size_t rz_matmul_fused_work_size(const rz_tensor *const *w, int n_parts, int64_t n_tokens) {
    size_t total = 0;
    for (int i = 0; i < n_parts; i++)
        total += rz_matmul_work_size(w[i], n_tokens);
    return total;
}

static void convert_task(void *arg, int ith, int nth) {
    matmul_job *job = arg;
    int64_t begin, end;
    rz_split_range(job->n_tokens, 1, ith, nth, &begin, &end);
    for (int64_t t = begin; t < end; t++)
        job->convert(job->x + t * job->x_stride, job->act + (uint64_t)t * job->act_row_bytes, job->n);
}

/* Every row tile of a chunk reads the activations of all its tokens again;
 * where they would not stay in L2 next to the weights streaming through it,
 * the chunk is done in blocks of tokens whose activations do. The hardware
 * prefetchers do not follow a tile's interleaved row streams, so the next row
 * tile is prefetched, a slice before each token tile. */
static void run_tiles(const matmul_part *p, int64_t n_tokens, int64_t begin, int64_t end) {
    const rz_tensor *w = p->w;
    const int rows = p->gemm->rows, tokens = p->gemm->tokens;
    /* Blocks of equal size (whole token tiles), so none is a short remainder
     * that reads all the chunk's weights again for a few tokens. */
    int64_t block = (int64_t)(ACT_BLOCK_BYTES / p->act_row_bytes);
    if (block < tokens) block = tokens;
    const int64_t n_blocks = (n_tokens + block - 1) / block;
    block = ((n_tokens + n_blocks - 1) / n_blocks + tokens - 1) / tokens * tokens;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += block) {
        const int64_t t_end = n_tokens - t0 < block ? n_tokens : t0 + block;
        const int64_t n_tiles = (t_end - t0 + tokens - 1) / tokens;
        for (int64_t r = begin; r < end; r += rows) {
            const int nr = end - r < rows ? (int)(end - r) : rows;
            const int64_t next_end = r + 2 * rows < w->ne[1] ? r + 2 * rows : w->ne[1];
            /* One token tile (a GEMV through an interleaved layout) streams on
             * its own prefetch; fetching the next group at once slowed it. */
            const uint64_t next_bytes =
                n_tiles > 1 && next_end > r + rows ? (uint64_t)(next_end - r - rows) * w->row_bytes : 0;
            const char *next = next_bytes ? rz_tensor_row(w, r + rows) : NULL;
            const uint64_t slice = rz_align_up(next_bytes / (uint64_t)n_tiles + 1, RZ_CACHE_LINE);
            uint64_t fetched = 0;
            for (int64_t t = t0; t < t_end; t += tokens) {
                for (const uint64_t stop = fetched + slice; fetched < stop && fetched < next_bytes;
                     fetched += RZ_CACHE_LINE)
                    __builtin_prefetch(next + fetched);
                const int nt = t_end - t < tokens ? (int)(t_end - t) : tokens;
                p->gemm->tile(w->ne[0], rz_tensor_row(w, r), w->row_bytes, nr,
                              p->act + (uint64_t)t * p->act_row_bytes, p->act_row_bytes, nt,
                              p->y + t * p->y_stride + r, p->y_stride);
            }
        }
    }
}

static void run_rows(const matmul_part *p, int64_t n_tokens, int64_t begin, int64_t end) {
    const rz_tensor *w = p->w;
    for (int64_t t = 0; t < n_tokens; t++) {
        const void *a = p->act + (uint64_t)t * p->act_row_bytes;
        float *yt = p->y + t * p->y_stride;
        for (int64_t r = begin; r < end; r++)
            p->vec_dot(w->ne[0], &yt[r], rz_tensor_row(w, r), a);
    }
}

/* Units [u, u_end) of one part. */
static void run_units(const matmul_part *p, int64_t u, int64_t u_end) {
    const int64_t begin = (u - p->first_unit) * p->unit_rows;
    const int64_t end = (u_end - p->first_unit) * p->unit_rows < p->w->ne[1]
                            ? (u_end - p->first_unit) * p->unit_rows
                            : p->w->ne[1];
    if (p->gemm)
        run_tiles(p, p->n_tokens, begin, end);
    else
        run_rows(p, p->n_tokens, begin, end);
    if (p->scaled)
        for (int64_t t = 0; t < p->n_tokens; t++)
            for (int64_t r = begin; r < end; r++)
                p->y[t * p->y_stride + r] *= p->w->scale;
}

/* Rows per unit of w in a region of nth threads: whole row groups of an
 * interleaved layout. */
static int64_t unit_rows(const rz_tensor *w, rz_isa isa, int nth) {
    const rz_gemm_kernel *g = rz_type_gemm(w->type, isa);
    const int64_t align = g && g->interleaved && g->rows > CHUNK_ROW_ALIGN ? g->rows : CHUNK_ROW_ALIGN;
    uint64_t chunk_bytes = w->row_bytes * (uint64_t)w->ne[1] / ((uint64_t)nth * CHUNKS_PER_SHARE);
    chunk_bytes = chunk_bytes < MIN_CHUNK_BYTES   ? MIN_CHUNK_BYTES
                  : chunk_bytes > MAX_CHUNK_BYTES ? MAX_CHUNK_BYTES
                                                  : chunk_bytes;
    const int64_t rows =
        (int64_t)(chunk_bytes / UNITS_PER_CHUNK / (w->row_bytes ? w->row_bytes : 1)) / align * align;
    return rows < align ? align : rows;
}

/* Whether a mat-mul over the weights w runs as gemv_task: one token, and no
 * interleaved layout, whose GEMV of row-group tiles streamed slower as two
 * streams of tiles (I2_TL in bench_ternary: 14.0 -> 12.1 GB/s). */
static bool gemv_two_streams(const rz_tensor *const *w, int n_parts, int64_t n_tokens, int nth, rz_isa isa) {
    if (n_tokens != 1 || 2 * nth > MAX_SHARES) return false;
    for (int i = 0; i < n_parts; i++) {
        const rz_gemm_kernel *g = rz_type_gemm(w[i]->type, isa);
        if (g && g->interleaved) return false;
    }
    return true;
}

/* Thread ith's first claims in a mat-mul over the weights w, the starts of
 * its shares (one, or two in a GEMV) of the units; returns how many. */
static int first_claims(const rz_tensor *const *w, int n_parts, int64_t n_tokens, int ith, int nth,
                        rz_byte_range claims[2]) {
    const rz_isa isa = rz_isa_active();
    int64_t rows[RZ_MATMUL_MAX_PARTS], n_units = 0;
    for (int i = 0; i < n_parts; i++) {
        rows[i] = unit_rows(w[i], isa, nth);
        n_units += (w[i]->ne[1] + rows[i] - 1) / rows[i];
    }
    const int streams = gemv_two_streams(w, n_parts, n_tokens, nth, isa) ? 2 : 1;
    int n_claims = 0;
    for (int k = 0; k < streams; k++) {
        int64_t u, end;
        rz_split_range(n_units, 1, ith * streams + k, nth * streams, &u, &end);
        for (int i = 0; i < n_parts && u < end; i++) {
            const int64_t part_units = (w[i]->ne[1] + rows[i] - 1) / rows[i];
            if (u < part_units) {
                const int64_t r = u * rows[i], claim = UNITS_PER_CHUNK * rows[i];
                claims[n_claims++] =
                    (rz_byte_range){rz_tensor_row(w[i], r),
                                    (size_t)((uint64_t)(w[i]->ne[1] - r < claim ? w[i]->ne[1] - r : claim) *
                                             w[i]->row_bytes)};
                break;
            }
            u -= part_units;
        }
    }
    return n_claims;
}

/* Units [u, end) of share s, claimed UNITS_PER_CHUNK at a time and the last
 * chunk's worth one at a time; false once the share is empty. */
static bool claim(matmul_job *job, int s, int64_t *u, int64_t *end) {
    const int64_t share_end = job->shares[s].end;
    const int64_t left = share_end - atomic_load_explicit(&job->shares[s].next, memory_order_relaxed);
    const int64_t n = left > UNITS_PER_CHUNK ? UNITS_PER_CHUNK : 1;
    *u = atomic_fetch_add_explicit(&job->shares[s].next, n, memory_order_relaxed);
    *end = *u + n < share_end ? *u + n : share_end;
    return *u < share_end;
}

/* The part holding unit u. */
static const matmul_part *part_of(const matmul_job *job, int64_t u) {
    int i = job->n_parts - 1;
    while (job->parts[i].first_unit > u)
        i--;
    return &job->parts[i];
}

static int64_t part_end_unit(const matmul_job *job, const matmul_part *p) {
    return p + 1 < job->parts + job->n_parts ? p[1].first_unit : job->n_units;
}

/* A claim of a GEMV worked through a row at a time, so that a thread can
 * interleave two of them. */
typedef struct row_stream {
    int64_t u, u_end; /* units of the claim past the current part's rows */
    const matmul_part *p;
    int64_t begin, r, end; /* rows of p in the claim, r the next */
} row_stream;

static bool stream_left(const row_stream *st) { return st->r < st->end || st->u < st->u_end; }

/* Makes st->r the next row of the claim. */
static void stream_open(const matmul_job *job, row_stream *st) {
    if (st->r < st->end) return;
    const matmul_part *p = st->p = part_of(job, st->u);
    const int64_t stop = st->u_end < part_end_unit(job, p) ? st->u_end : part_end_unit(job, p);
    st->begin = st->r = (st->u - p->first_unit) * p->unit_rows;
    st->end = (stop - p->first_unit) * p->unit_rows < p->w->ne[1] ? (stop - p->first_unit) * p->unit_rows
                                                                  : p->w->ne[1];
    st->u = stop;
}

/* Past a row; a part's rows done get its per-tensor scale. */
static void stream_advance(row_stream *st) {
    const matmul_part *p = st->p;
    st->r++;
    if (st->r == st->end && p->scaled)
        for (int64_t r = st->begin; r < st->end; r++)
            p->y[r] *= p->w->scale;
}

static void stream_step(row_stream *st) {
    const matmul_part *p = st->p;
    p->vec_dot(p->w->ne[0], &p->y[st->r], rz_tensor_row(p->w, st->r), p->act);
    stream_advance(st);
}

/* A row of each stream in one vec_dot2 where their parts have the same one. */
static bool pair_step(row_stream *a, row_stream *b) {
    const matmul_part *p = a->p, *q = b->p;
    if (!p->vec_dot2 || p->vec_dot2 != q->vec_dot2 || p->act != q->act) return false;
    float s[2];
    p->vec_dot2(p->w->ne[0], s, rz_tensor_row(p->w, a->r), rz_tensor_row(q->w, b->r), p->act);
    p->y[a->r] = s[0];
    q->y[b->r] = s[1];
    stream_advance(a);
    stream_advance(b);
    return true;
}

/* One token: each thread owns two shares, the halves of its rows, and reads
 * them at once, a row of each in turn; then helps with the others' pairs.
 * Two streams far apart read memory faster than one here (bench_bandwidth's
 * "two streams"; a Q4_0 GEMV of rows of 2048 in bench_dot: about 14 -> 17
 * GB/s). Not for interleaved layouts (gemv_two_streams). */
static void gemv_task(matmul_job *job, int ith, int n_owners) {
    for (int k = 0; k < n_owners; k++) {
        const int owner = (ith + k) % n_owners;
        row_stream st[2] = {{0}, {0}};
        for (;;) {
            for (int i = 0; i < 2; i++)
                if (!stream_left(&st[i]) && claim(job, 2 * owner + i, &st[i].u, &st[i].u_end))
                    st[i].r = st[i].end = 0;
            const bool left0 = stream_left(&st[0]), left1 = stream_left(&st[1]);
            if (!left0 && !left1) break;
            if (left0) stream_open(job, &st[0]);
            if (left1) stream_open(job, &st[1]);
            if (left0 && left1 && pair_step(&st[0], &st[1])) continue;
            if (left0) stream_step(&st[0]);
            if (left1) stream_step(&st[1]);
        }
    }
}

static void dot_task(void *arg, int ith, int nth) {
    matmul_job *job = arg;
    if (job->two_streams) {
        gemv_task(job, ith, job->n_shares / 2);
    } else {
        for (int k = 0; k < job->n_shares; k++) {
            const int s = (ith + k) % job->n_shares;
            int64_t u, u_end;
            while (claim(job, s, &u, &u_end))
                while (u < u_end) { /* the claim, part by part */
                    const matmul_part *p = part_of(job, u);
                    const int64_t stop = u_end < part_end_unit(job, p) ? u_end : part_end_unit(job, p);
                    run_units(p, u, stop);
                    u = stop;
                }
        }
    }
    if (job->n_next > 0 && nth > 1) { /* the next mat-mul has as many tokens */
        rz_byte_range claims[2];
        const int n = first_claims(job->next, job->n_next, job->n_tokens, ith, nth, claims);
        if (n) rz_threadpool_prefetch_while_idle(job->pool, ith, claims, n);
    }
}

void rz_matmul_fused(rz_threadpool *pool, const rz_matmul_out *outs, int n_parts, const float *x,
                     int64_t x_stride, int64_t n_tokens, void *work, const rz_tensor *const *next,
                     int n_next) {
    if (n_parts > RZ_MATMUL_MAX_PARTS) { /* regions of at most that many parts; the last names `next` */
        for (int i = 0; i < n_parts; i += RZ_MATMUL_MAX_PARTS) {
            const int n = n_parts - i < RZ_MATMUL_MAX_PARTS ? n_parts - i : RZ_MATMUL_MAX_PARTS;
            const bool last = i + n == n_parts;
            rz_matmul_fused(pool, outs + i, n, x, x_stride, n_tokens, work, last ? next : NULL,
                            last ? n_next : 0);
        }
        return;
    }
    matmul_job job = {.n_parts = n_parts,
                      .x = x,
                      .x_stride = x_stride,
                      .n_tokens = n_tokens,
                      .pool = pool,
                      .next = next,
                      .n_next = n_next};
    const rz_isa isa = rz_isa_active();
    const int nth = rz_threadpool_size(pool);
    char *free_work = work;
    const float *inputs[RZ_MATMUL_MAX_PARTS] = {0};
    int64_t max_tokens = 0;
    for (int i = 0; i < n_parts; i++) {
        const rz_tensor *w = outs[i].w;
        matmul_part *p = &job.parts[i];
        *p = (matmul_part){
            .w = w,
            .y = outs[i].y,
            .y_stride = outs[i].y_stride,
            .n_tokens = outs[i].x && outs[i].n_tokens ? outs[i].n_tokens : n_tokens,
            .vec_dot = rz_type_vec_dot(w->type, isa),
            .vec_dot2 = rz_type_vec_dot2(w->type, isa),
            .first_unit = job.n_units,
            .scaled = rz_type_traits_get(w->type)->tensor_scale,
        };
        /* One token gains nothing from tiles, GEMV stays on vec_dot, except
         * in interleaved layouts, which have only tiles. */
        const rz_gemm_kernel *g = rz_type_gemm(w->type, isa);
        p->gemm = p->n_tokens > 1 || (g && g->interleaved) ? g : NULL;
        max_tokens = p->n_tokens > max_tokens ? p->n_tokens : max_tokens;
        const int64_t rows = p->unit_rows = unit_rows(w, isa, nth);
        p->act_type = rz_type_act_type(w->type, p->gemm);
        job.n_units += (w->ne[1] + rows - 1) / rows;

        /* Activations: converted once per type and input, shared by the
         * parts that read the same one. */
        const float *px = outs[i].x ? outs[i].x : x;
        if (p->act_type == RZ_TYPE_F32) {
            p->act = (const char *)px;
            p->act_row_bytes = (uint64_t)x_stride * sizeof(float);
            continue;
        }
        int same = 0;
        while (same < i && (job.parts[same].act_type != p->act_type || inputs[same] != px ||
                            job.parts[same].w->ne[0] != w->ne[0] || job.parts[same].n_tokens != p->n_tokens))
            same++;
        inputs[i] = px;
        if (same < i) {
            p->act = job.parts[same].act;
            p->act_row_bytes = job.parts[same].act_row_bytes;
            continue;
        }
        job.convert = rz_type_from_float_act(p->act_type, isa);
        job.x = px;
        job.n_tokens = p->n_tokens;
        job.n = w->ne[0];
        job.act = free_work;
        job.act_row_bytes = rz_row_bytes(rz_type_traits_get(p->act_type), (uint64_t)w->ne[0]);
        free_work += act_bytes(p->act_type, w->ne[0], p->n_tokens);
        p->act = job.act;
        p->act_row_bytes = job.act_row_bytes;
        rz_threadpool_run(p->n_tokens > 1 ? pool : NULL, convert_task, &job);
    }
    job.n_tokens = n_tokens;
    const rz_tensor *w[RZ_MATMUL_MAX_PARTS];
    for (int i = 0; i < n_parts; i++)
        w[i] = outs[i].w;
    job.two_streams = gemv_two_streams(w, n_parts, max_tokens, nth, isa);
    job.n_shares = job.two_streams ? 2 * nth : nth < MAX_SHARES ? nth : MAX_SHARES;
    for (int i = 0; i < job.n_shares; i++) {
        int64_t begin, end;
        rz_split_range(job.n_units, 1, i, job.n_shares, &begin, &end);
        atomic_init(&job.shares[i].next, begin);
        job.shares[i].end = end;
    }
    rz_threadpool_run(pool, dot_task, &job);
}

void rz_matmul(rz_threadpool *pool, const rz_tensor *w, const float *x, int64_t x_stride, float *y,
               int64_t y_stride, int64_t n_tokens, void *work) {
    const rz_matmul_out out = {.w = w, .y = y, .y_stride = y_stride};
    rz_matmul_fused(pool, &out, 1, x, x_stride, n_tokens, work, NULL, 0);
}
