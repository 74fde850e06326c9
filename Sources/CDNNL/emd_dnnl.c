// oneDNN convolutions on NCHW tensors (see include/emd_dnnl.h).
#include "emd_dnnl.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static dnnl_status_t engine_status = dnnl_runtime_error;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void (*omp_set_threads)(int);

static void make_engine(void) {
    omp_set_threads = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (engine_status == dnnl_success) engine_status = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
}

/// The OpenMP runtime oneDNN was built with (Debian: libgomp) starts one thread per core by
/// default; a rank gets as many as it has BLAS threads. Looked up at run time, as libgomp comes
/// in with libdnnl rather than being linked here.
static void set_threads(int threads) {
    if (omp_set_threads) omp_set_threads(threads < 1 ? 1 : threads);
}

/// A primitive with its arguments, run in order by a call.
typedef struct {
    dnnl_primitive_t primitive;
    int count;
    dnnl_exec_arg_t args[6];
} step;

struct emd_conv {
    // NCHW / OIHW / x views of the caller's buffers (handles set per call).
    dnnl_memory_t user_x, user_w, user_b, user_y, user_dy;
    // Buffers in oneDNN's chosen layouts, and NCHW / OIHW / x results to add from.
    dnnl_memory_t fwd_x, fwd_w, fwd_y, bd_dy, bd_w, bd_dx, bw_x, bw_dy, bw_dw, bw_db, out_dx, out_dw;
    dnnl_memory_t scratchpad;
    step forward[4];
    int forward_count;
    step backward_data[4];
    int backward_data_count;
    step backward_weights[5];
    int backward_weights_count;
    size_t x_count, w_count, b_count;
    float *dx_sum, *dw_sum, *db_sum;
    int threads;
    char implementation[64];
    dnnl_primitive_t primitives[16];
    int primitive_count;
    dnnl_memory_t memories[20];
    int memory_count;
};

#define TRY(call)                                                                        \
    do {                                                                                 \
        dnnl_status_t s_ = (call);                                                       \
        if (s_ != dnnl_success) {                                                        \
            snprintf(error, error_size, "oneDNN status %d in %s", (int)s_, #call);       \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

static dnnl_status_t new_memory(emd_conv *c, dnnl_memory_t *m, const dnnl_memory_desc_t *md, int allocate) {
    dnnl_status_t s = dnnl_memory_create(m, md, engine, allocate ? DNNL_MEMORY_ALLOCATE : DNNL_MEMORY_NONE);
    if (s == dnnl_success) c->memories[c->memory_count++] = *m;
    return s;
}

static void add_arg(step *s, int arg, dnnl_memory_t m) {
    s->args[s->count].arg = arg;
    s->args[s->count].memory = m;
    s->count++;
}

/// Largest scratchpad any primitive descriptor of this handle asks for.
static void note_scratchpad(const_dnnl_primitive_desc_t pd, size_t *largest) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t size = md ? dnnl_memory_desc_get_size(md) : 0;
    if (size > *largest) *largest = size;
}

static dnnl_status_t make_primitive(emd_conv *c, step *s, const_dnnl_primitive_desc_t pd) {
    memset(s, 0, sizeof *s);
    dnnl_status_t status = dnnl_primitive_create(&s->primitive, pd);
    if (status == dnnl_success) c->primitives[c->primitive_count++] = s->primitive;
    return status;
}

static dnnl_status_t make_reorder(emd_conv *c, step *s, dnnl_memory_t from, dnnl_memory_t to,
                                  const_dnnl_primitive_attr_t attr, size_t *scratch) {
    const dnnl_memory_desc_t *a, *b;
    dnnl_status_t status = dnnl_memory_get_memory_desc(from, &a);
    if (status == dnnl_success) status = dnnl_memory_get_memory_desc(to, &b);
    dnnl_primitive_desc_t pd = NULL;
    if (status == dnnl_success) status = dnnl_reorder_primitive_desc_create(&pd, a, engine, b, engine, attr);
    if (status != dnnl_success) return status;
    note_scratchpad(pd, scratch);
    status = make_primitive(c, s, pd);
    dnnl_primitive_desc_destroy(pd);
    add_arg(s, DNNL_ARG_FROM, from);
    add_arg(s, DNNL_ARG_TO, to);
    return status;
}

emd_conv *emd_conv_create(int batch, int in, int height, int width, int out, int kernel, int stride, int threads,
                          char *error, size_t error_size) {
    pthread_once(&engine_once, make_engine);
    if (engine_status != dnnl_success) {
        snprintf(error, error_size, "oneDNN could not create a CPU engine (status %d)", (int)engine_status);
        return NULL;
    }
    if (batch < 1 || in < 1 || out < 1 || height < 1 || width < 1 || (kernel != 1 && kernel != 3) ||
        (stride != 1 && stride != 2)) {
        snprintf(error, error_size, "invalid convolution shape");
        return NULL;
    }
    set_threads(threads);
    emd_conv *c = calloc(1, sizeof *c);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t fpd = NULL, bdpd = NULL, bwpd = NULL;
    if (!c) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    c->threads = threads;
    int pad = kernel / 2;
    int oh = (height + 2 * pad - kernel) / stride + 1, ow = (width + 2 * pad - kernel) / stride + 1;
    dnnl_dims_t x_dims = {batch, in, height, width}, w_dims = {out, in, kernel, kernel}, b_dims = {out},
                y_dims = {batch, out, oh, ow};
    dnnl_dims_t strides = {stride, stride}, left = {pad, pad};
    // Right padding that gives the output its size: (o - 1) stride + kernel - size - left.
    dnnl_dims_t right = {(oh - 1) * stride + kernel - height - pad, (ow - 1) * stride + kernel - width - pad};
    c->x_count = (size_t)batch * in * height * width;
    c->w_count = (size_t)out * in * kernel * kernel;
    c->b_count = (size_t)out;

    dnnl_memory_desc_t x_user, w_user, b_user, y_user, x_any, w_any, y_any;
    TRY(dnnl_memory_desc_init_by_tag(&x_user, 4, x_dims, dnnl_f32, dnnl_nchw));
    TRY(dnnl_memory_desc_init_by_tag(&w_user, 4, w_dims, dnnl_f32, dnnl_oihw));
    TRY(dnnl_memory_desc_init_by_tag(&b_user, 1, b_dims, dnnl_f32, dnnl_x));
    TRY(dnnl_memory_desc_init_by_tag(&y_user, 4, y_dims, dnnl_f32, dnnl_nchw));
    TRY(dnnl_memory_desc_init_by_tag(&x_any, 4, x_dims, dnnl_f32, dnnl_format_tag_any));
    TRY(dnnl_memory_desc_init_by_tag(&w_any, 4, w_dims, dnnl_f32, dnnl_format_tag_any));
    TRY(dnnl_memory_desc_init_by_tag(&y_any, 4, y_dims, dnnl_f32, dnnl_format_tag_any));

    TRY(dnnl_primitive_attr_create(&attr));
    TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    dnnl_convolution_desc_t fd, bdd, bwd;
    TRY(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &x_any, &w_any, &b_user,
                                           &y_any, strides, left, right));
    TRY(dnnl_primitive_desc_create(&fpd, &fd, attr, engine, NULL));
    TRY(dnnl_convolution_backward_data_desc_init(&bdd, dnnl_convolution_direct, &x_any, &w_any, &y_any, strides, left, right));
    TRY(dnnl_primitive_desc_create(&bdpd, &bdd, attr, engine, fpd));
    TRY(dnnl_convolution_backward_weights_desc_init(&bwd, dnnl_convolution_direct, &x_any, &w_any, &b_user, &y_any, strides,
                                                    left, right));
    TRY(dnnl_primitive_desc_create(&bwpd, &bwd, attr, engine, fpd));
    size_t scratch = 0;
    note_scratchpad(fpd, &scratch);
    note_scratchpad(bdpd, &scratch);
    note_scratchpad(bwpd, &scratch);
    const char *name = NULL;
    if (dnnl_primitive_desc_query(fpd, dnnl_query_impl_info_str, 0, &name) == dnnl_success && name)
        snprintf(c->implementation, sizeof c->implementation, "%s", name);

    TRY(new_memory(c, &c->user_x, &x_user, 0));
    TRY(new_memory(c, &c->user_w, &w_user, 0));
    TRY(new_memory(c, &c->user_b, &b_user, 0));
    TRY(new_memory(c, &c->user_y, &y_user, 0));
    TRY(new_memory(c, &c->user_dy, &y_user, 0));
    TRY(new_memory(c, &c->fwd_x, dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0), 1));
    TRY(new_memory(c, &c->fwd_w, dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0), 1));
    TRY(new_memory(c, &c->fwd_y, dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0), 1));
    TRY(new_memory(c, &c->bd_dy, dnnl_primitive_desc_query_md(bdpd, dnnl_query_diff_dst_md, 0), 1));
    TRY(new_memory(c, &c->bd_w, dnnl_primitive_desc_query_md(bdpd, dnnl_query_weights_md, 0), 1));
    TRY(new_memory(c, &c->bd_dx, dnnl_primitive_desc_query_md(bdpd, dnnl_query_diff_src_md, 0), 1));
    TRY(new_memory(c, &c->bw_x, dnnl_primitive_desc_query_md(bwpd, dnnl_query_src_md, 0), 1));
    TRY(new_memory(c, &c->bw_dy, dnnl_primitive_desc_query_md(bwpd, dnnl_query_diff_dst_md, 0), 1));
    TRY(new_memory(c, &c->bw_dw, dnnl_primitive_desc_query_md(bwpd, dnnl_query_diff_weights_md, 0), 1));
    TRY(new_memory(c, &c->bw_db, &b_user, 1));
    TRY(new_memory(c, &c->out_dx, &x_user, 1));
    TRY(new_memory(c, &c->out_dw, &w_user, 1));

    // Forward: x and w into the chosen layouts, the convolution, y back to NCHW.
    step *f = c->forward;
    TRY(make_reorder(c, &f[0], c->user_x, c->fwd_x, attr, &scratch));
    TRY(make_reorder(c, &f[1], c->user_w, c->fwd_w, attr, &scratch));
    TRY(make_primitive(c, &f[2], fpd));
    add_arg(&f[2], DNNL_ARG_SRC, c->fwd_x);
    add_arg(&f[2], DNNL_ARG_WEIGHTS, c->fwd_w);
    add_arg(&f[2], DNNL_ARG_BIAS, c->user_b);
    add_arg(&f[2], DNNL_ARG_DST, c->fwd_y);
    TRY(make_reorder(c, &f[3], c->fwd_y, c->user_y, attr, &scratch));
    c->forward_count = 4;
    // Backward data: dy and w in, the convolution, dx out (NCHW, summed in by the caller's rule).
    step *d = c->backward_data;
    TRY(make_reorder(c, &d[0], c->user_dy, c->bd_dy, attr, &scratch));
    TRY(make_reorder(c, &d[1], c->user_w, c->bd_w, attr, &scratch));
    TRY(make_primitive(c, &d[2], bdpd));
    add_arg(&d[2], DNNL_ARG_DIFF_DST, c->bd_dy);
    add_arg(&d[2], DNNL_ARG_WEIGHTS, c->bd_w);
    add_arg(&d[2], DNNL_ARG_DIFF_SRC, c->bd_dx);
    TRY(make_reorder(c, &d[3], c->bd_dx, c->out_dx, attr, &scratch));
    c->backward_data_count = 4;
    // Backward weights: x and dy in, the convolution, dw out (OIHW) and db, added by the caller's rule.
    step *g = c->backward_weights;
    TRY(make_reorder(c, &g[0], c->user_x, c->bw_x, attr, &scratch));
    TRY(make_reorder(c, &g[1], c->user_dy, c->bw_dy, attr, &scratch));
    TRY(make_primitive(c, &g[2], bwpd));
    add_arg(&g[2], DNNL_ARG_SRC, c->bw_x);
    add_arg(&g[2], DNNL_ARG_DIFF_DST, c->bw_dy);
    add_arg(&g[2], DNNL_ARG_DIFF_WEIGHTS, c->bw_dw);
    add_arg(&g[2], DNNL_ARG_DIFF_BIAS, c->bw_db);
    TRY(make_reorder(c, &g[3], c->bw_dw, c->out_dw, attr, &scratch));
    c->backward_weights_count = 4;

    // One scratchpad for every primitive of the handle (they run one at a time).
    dnnl_memory_desc_t scratch_md;
    dnnl_dims_t scratch_dims = {(dnnl_dim_t)(scratch > 0 ? scratch : 1)};
    TRY(dnnl_memory_desc_init_by_tag(&scratch_md, 1, scratch_dims, dnnl_u8, dnnl_x));
    TRY(new_memory(c, &c->scratchpad, &scratch_md, 1));
    step *all[] = {c->forward, c->backward_data, c->backward_weights};
    int counts[] = {c->forward_count, c->backward_data_count, c->backward_weights_count};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < counts[i]; j++) add_arg(&all[i][j], DNNL_ARG_SCRATCHPAD, c->scratchpad);

    TRY(dnnl_memory_get_data_handle(c->out_dx, (void **)&c->dx_sum));
    TRY(dnnl_memory_get_data_handle(c->out_dw, (void **)&c->dw_sum));
    TRY(dnnl_memory_get_data_handle(c->bw_db, (void **)&c->db_sum));
    dnnl_primitive_desc_destroy(fpd);
    dnnl_primitive_desc_destroy(bdpd);
    dnnl_primitive_desc_destroy(bwpd);
    dnnl_primitive_attr_destroy(attr);
    return c;
fail:
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (bdpd) dnnl_primitive_desc_destroy(bdpd);
    if (bwpd) dnnl_primitive_desc_destroy(bwpd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    emd_conv_free(c);
    return NULL;
}

void emd_conv_free(emd_conv *c) {
    if (!c) return;
    for (int i = 0; i < c->primitive_count; i++) dnnl_primitive_destroy(c->primitives[i]);
    for (int i = 0; i < c->memory_count; i++) dnnl_memory_destroy(c->memories[i]);
    free(c);
}

static dnnl_status_t run(step *steps, int count) {
    for (int i = 0; i < count; i++) {
        dnnl_status_t s = dnnl_primitive_execute(steps[i].primitive, stream, steps[i].count, steps[i].args);
        if (s != dnnl_success) return s;
    }
    return dnnl_stream_wait(stream);
}

int emd_conv_forward(emd_conv *c, const float *x, const float *w, const float *b, float *y) {
    set_threads(c->threads);  // per calling thread: OpenMP keeps the count per thread
    dnnl_memory_set_data_handle(c->user_x, (void *)x);
    dnnl_memory_set_data_handle(c->user_w, (void *)w);
    dnnl_memory_set_data_handle(c->user_b, (void *)b);
    dnnl_memory_set_data_handle(c->user_y, y);
    return (int)run(c->forward, c->forward_count);
}

int emd_conv_backward(emd_conv *c, const float *x, const float *w, const float *dy, float *gw, float *gb, float *dx,
                      int accumulate_dx) {
    set_threads(c->threads);
    dnnl_memory_set_data_handle(c->user_x, (void *)x);
    dnnl_memory_set_data_handle(c->user_w, (void *)w);
    dnnl_memory_set_data_handle(c->user_dy, (void *)dy);
    dnnl_status_t s;
    if (gw) {
        if ((s = run(c->backward_weights, c->backward_weights_count)) != dnnl_success) return (int)s;
        for (size_t i = 0; i < c->w_count; i++) gw[i] += c->dw_sum[i];
        for (size_t i = 0; i < c->b_count; i++) gb[i] += c->db_sum[i];
    }
    if (dx) {
        if ((s = run(c->backward_data, c->backward_data_count)) != dnnl_success) return (int)s;
        if (accumulate_dx)
            for (size_t i = 0; i < c->x_count; i++) dx[i] += c->dx_sum[i];
        else
            memcpy(dx, c->dx_sum, c->x_count * sizeof(float));
    }
    return 0;
}

const char *emd_conv_implementation(const emd_conv *c) { return c->implementation; }

int emd_sgemm(char transa, char transb, long m, long n, long k, float alpha, const float *a, long lda, const float *b,
              long ldb, float beta, float *c, long ldc, int threads) {
    // OpenMP keeps the thread count per calling thread: set it once per thread and count.
    static __thread int current = 0;
    if (current != threads) {
        pthread_once(&engine_once, make_engine);
        set_threads(threads);
        current = threads;
    }
    return (int)dnnl_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
