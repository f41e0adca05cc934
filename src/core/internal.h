/* Library-internal declarations. Nothing here is exported: the library is built with
 * -fvisibility=hidden and only TG_API names leave it. Internal names use `tg__`. */
#ifndef TAPEGRAD_INTERNAL_H
#define TAPEGRAD_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include "tapegrad.h"

/* --- allocation (alloc.c): the one path to memory --- */
void *tg__alloc(size_t size);
void tg__free(void *ptr);
/* a * b, or 0 with *overflow set when it does not fit in size_t */
size_t tg__mul_size(size_t a, size_t b, int *overflow);

/* --- loops --- */
/* Before a loop over a small array that should live in registers (the transposes of
 * the GEMM's pack_bt, linear's bias-gradient block): unrolled, it does. GCC -O2 does not
 * unroll such loops by itself and kept the arrays in memory: packing a 64 x 64 B^T cost
 * 0.66 us, a quarter of the product 65x64x64, and each row of the bias sum waited for
 * the previous row's store. */
#if defined(__clang__)
#define TG__UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define TG__UNROLL _Pragma("GCC unroll 16")
#else
#define TG__UNROLL
#endif

/* --- errors (error.c): thread-local last error --- */
#if defined(__GNUC__) || defined(__clang__)
#define TG__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TG__PRINTF(f, a)
#endif
/* Records status and message as this thread's last error; returns s. */
tg_status tg__fail(tg_status s, const char *fmt, ...) TG__PRINTF(2, 3);
/* Formats the shapes of n tensors as "[2,3], [3]" into buf. */
void tg__shapes_str(tg_tensor *const *t, size_t n, char *buf, size_t len);

/* --- arena (arena.c): tape memory, reused by reset --- */
typedef struct tg__block tg__block;
typedef struct {
    tg__block *head;    /* current block; older ones follow */
    size_t used;        /* bytes used in head */
    size_t total;       /* capacity of all blocks together */
} tg__arena;
void *tg__arena_alloc(tg__arena *a, size_t bytes);   /* 64-byte aligned, NULL on failure */
void tg__arena_reset(tg__arena *a);                  /* keeps one block of the total size */
void tg__arena_free(tg__arena *a);

/* --- shapes (tensor.c) --- */
/* Validates rank and shape and returns the element count in *size. */
tg_status tg__check_shape(const char *who, size_t rank, const size_t *shape, size_t *size);
int tg__same_shape(const tg_tensor *a, const tg_tensor *b);

/* --- matrix product (gemm.c): the one GEMM entry point ---
 * C[M,N] = alpha * op(A) op(B) + beta * C, row-major; op(A) is [M,K] (A stored [K,M]
 * when ta), op(B) is [K,N] (B stored [N,K] when tb). beta 0 ignores C's old contents. */
void tg__gemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
              size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* --- reductions (rules/sum.c), shared with mean --- */
tg_status tg__infer_scalar(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK]);
double tg__sum_double(const float *x, size_t n);

/* --- built-in rules (one file each under rules/) --- */
extern const tg_rule tg__rule_relu, tg__rule_leaky_relu, tg__rule_elu, tg__rule_sigmoid,
    tg__rule_tanh, tg__rule_gelu, tg__rule_gelu_erf, tg__rule_softplus, tg__rule_silu,
    tg__rule_safe_log, tg__rule_smooth_abs, tg__rule_linear, tg__rule_add, tg__rule_sub,
    tg__rule_mul, tg__rule_scale, tg__rule_sum, tg__rule_mean, tg__rule_matmul,
    tg__rule_concat, tg__rule_mse_loss, tg__rule_softmax_cross_entropy;

/* --- errors from outside the engine (tape.c), for src/data/ and later layers --- */
/* Records the calling thread's last error on the tape (as its first error, if it has
 * none yet) and returns that status: a step fails once, wherever it failed. */
tg_status tg__tape_adopt_error(tg_tape *tape);
/* --- ops: reasons with values (why.c) and the rules that models need --- */
/* Formats a refusal's reason into tape memory and sets node->why to it; returns it. */
const char *tg__why(tg_node *n, const char *fmt, ...) TG__PRINTF(2, 3);
/* forward's domain check for log and sqrt: TG_ERR_DOMAIN naming the first element
 * below 0 (-0 and NaN are accepted). */
tg_status tg__refuse_negative(tg_node *n);
/* Axis reductions (rules/sum_axis.c), shared with mean_axis: x as [outer, n, inner]. */
typedef struct {
    size_t outer, n, inner;
} tg__axis_split;
tg_status tg__axis_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK]);
tg__axis_split tg__axis_split_of(const tg_node *n);
tg_status tg__axis_reduce(tg_node *n, int mean);   /* forward */
tg_status tg__axis_spread(tg_node *n, int mean);   /* backward */
/* softmax and log_softmax (rules/softmax.c): one row in double (log_form 0 or 1); the
 * row function sets *why on TG_ERR_DOMAIN; the vjp's dx may alias dy. */
tg_status tg__softmax_row(size_t n, const double *x, double *y, int log_form, const char **why);
void tg__softmax_vjp_row(size_t n, const double *y, const double *dy, double *dx, int log_form);
tg_status tg__softmax_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK]);
tg_status tg__softmax_forward(tg_node *n, int log_form);
tg_status tg__softmax_backward(tg_node *n, int log_form);
extern const tg_rule tg__rule_div, tg__rule_exp, tg__rule_log, tg__rule_sqrt, tg__rule_square,
    tg__rule_neg, tg__rule_reshape, tg__rule_transpose, tg__rule_sum_axis, tg__rule_mean_axis,
    tg__rule_softmax, tg__rule_log_softmax, tg__rule_linear_nobias;

/* --- refusals passed up (fail_in.c), for public functions that call public ones --- */
/* Re-records the calling thread's last error as "<prefix>: <message>" (prefix formatted
 * from fmt), unless the message already starts with that prefix; returns its status. */
tg_status tg__fail_in(const char *fmt, ...) TG__PRINTF(1, 2);
/* The checks of the void local functions (rules/sum_axis.c, rules/softmax.c): a NULL
 * array or an overflowing size records the message; returns whether to go on. */
int tg__local_axis_ok(const char *who, size_t outer, size_t n, size_t inner, const void *in,
                      const void *out);
int tg__local_vjp_ok(const char *who, size_t n, const double *y, const double *dy,
                     const double *dx);

/* --- rule validation (registry.c), shared by tg_rule_register and tg_apply --- */
/* TG_OK, or the status with "<who>: <rule>: <reason>" recorded; formats nothing when
 * the rule is well formed. */
tg_status tg__check_rule(const tg_rule *r, const char *who);

#endif
