/* The standalone local-gradient API: each rule's value and derivative (or
 * vector-Jacobian product) in double precision, with no tape. This is the reference
 * the float32 tape is measured against.
 *
 * `at` may be NULL; otherwise it receives TG_POINT_KINK where the derivative law's
 * side condition fails (relu at 0: the one-sided value from rules.md is returned) and
 * TG_POINT_BAD_PARAM when a parameter is outside its domain (the result is then NaN). */
#ifndef TAPEGRAD_LOCAL_H
#define TAPEGRAD_LOCAL_H

#include <stddef.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TG_POINT_SMOOTH = 0, TG_POINT_KINK = 1, TG_POINT_BAD_PARAM = 2 } tg_point;

TG_API double tg_local_relu(double x);
TG_API double tg_local_relu_deriv(double x, tg_point *at);
TG_API double tg_local_leaky_relu(double x, double a);
TG_API double tg_local_leaky_relu_deriv(double x, double a, tg_point *at);
TG_API double tg_local_elu(double x, double a);
TG_API double tg_local_elu_deriv(double x, double a, tg_point *at);
TG_API double tg_local_sigmoid(double x);
TG_API double tg_local_sigmoid_deriv(double x, tg_point *at);
TG_API double tg_local_tanh(double x);
TG_API double tg_local_tanh_deriv(double x, tg_point *at);
TG_API double tg_local_gelu(double x);
TG_API double tg_local_gelu_deriv(double x, tg_point *at);
TG_API double tg_local_gelu_erf(double x);
TG_API double tg_local_gelu_erf_deriv(double x, tg_point *at);
TG_API double tg_local_softplus(double x);
TG_API double tg_local_softplus_deriv(double x, tg_point *at);
TG_API double tg_local_silu(double x);
TG_API double tg_local_silu_deriv(double x, tg_point *at);
TG_API double tg_local_safe_log(double x, double eps);
TG_API double tg_local_safe_log_deriv(double x, double eps, tg_point *at);
TG_API double tg_local_smooth_abs(double x, double eps);
TG_API double tg_local_smooth_abs_deriv(double x, double eps, tg_point *at);

/* The linear layer y = W x + b for one input vector, W [out,in], cotangent d [out]:
 * dW = d x^T [out,in], dx = W^T d [in], db = d [out]. Each writes (not adds) its result. */
TG_API void tg_local_linear_grad_weight(size_t out, size_t in, const double *d, const double *x,
                                        double *dW);
TG_API void tg_local_linear_grad_input(size_t out, size_t in, const double *W, const double *d,
                                       double *dx);
TG_API void tg_local_linear_grad_bias(size_t out, const double *d, double *db);

/* ---- the operations models need (rules.md, "Operations for models") ---- */
/* a / b and its partials d/da = 1/b, d/db = -a/b^2 (either pointer may be NULL);
 * b = 0 follows IEEE 754: infinities, NaN where a = 0 too. */
TG_API double tg_local_div(double a, double b);
TG_API void tg_local_div_grad(double a, double b, double *da, double *db);
/* exp, log, sqrt, square and neg, as the activations above. log and sqrt are defined for
 * x >= 0: at 0 (either sign) log is -inf and both derivatives are +inf, the limits from
 * the right; for x < 0 value and derivative are NaN and `at` receives
 * TG_POINT_BAD_PARAM, meaning here that the input is outside the domain (the tape
 * refuses such inputs with TG_ERR_DOMAIN). */
TG_API double tg_local_exp(double x);
TG_API double tg_local_exp_deriv(double x, tg_point *at);
TG_API double tg_local_log(double x);
TG_API double tg_local_log_deriv(double x, tg_point *at);
TG_API double tg_local_sqrt(double x);
TG_API double tg_local_sqrt_deriv(double x, tg_point *at);
TG_API double tg_local_square(double x);
TG_API double tg_local_square_deriv(double x, tg_point *at);
TG_API double tg_local_neg(double x);
TG_API double tg_local_neg_deriv(double x, tg_point *at);
/* reshape's value and vector-Jacobian product are the identity on the flat data; its one
 * computation is the shape: `rank` target dimensions, each >= 1 except at most one -1,
 * which becomes the size that makes the product equal `count`. TG_ERR_PARAM for a bad
 * target, TG_ERR_SHAPE when the counts cannot match (tg_last_error() says which). */
TG_API tg_status tg_local_reshape_shape(size_t count, size_t rank, const long *target,
                                        size_t *shape);
/* y = x^T for x [M,N] (y [N,M]). It is its own vector-Jacobian product with the
 * dimensions swapped: dx = tg_local_transpose(N, M, dy). */
TG_API void tg_local_transpose(size_t M, size_t N, const double *x, double *y);
/* x viewed as [outer, n, inner], reduced over the n axis: y [outer, inner] is the sum (or
 * mean) along it; the vector-Jacobian product writes dx [outer, n, inner] = dy (or dy / n)
 * repeated along that axis. */
TG_API void tg_local_sum_axis(size_t outer, size_t n, size_t inner, const double *x, double *y);
TG_API void tg_local_sum_axis_vjp(size_t outer, size_t n, size_t inner, const double *dy,
                                  double *dx);
TG_API void tg_local_mean_axis(size_t outer, size_t n, size_t inner, const double *x, double *y);
TG_API void tg_local_mean_axis_vjp(size_t outer, size_t n, size_t inner, const double *dy,
                                   double *dx);
/* One row of n entries. softmax: y_i = exp(x_i - m) / sum_j exp(x_j - m), m = max x;
 * log_softmax: y_i = (x_i - m) - log sum_j exp(x_j - m). A -inf entry is masked out; one
 * +inf entry gives the limit (softmax e_j, log_softmax 0 there and -inf elsewhere); a
 * NaN entry gives a NaN row. A row that is all -inf, or has two or more +inf entries,
 * has no value: TG_ERR_DOMAIN and a NaN row. TG_ERR_NULL / TG_ERR_SIZE for NULL or n 0.
 * The vector-Jacobian products take the row's output y (dx may be dy):
 * softmax dx_i = y_i (dy_i - <dy, y>); log_softmax dx_i = dy_i - exp(y_i) sum_j dy_j. */
TG_API tg_status tg_local_softmax(size_t n, const double *x, double *y);
TG_API void tg_local_softmax_vjp(size_t n, const double *y, const double *dy, double *dx);
TG_API tg_status tg_local_log_softmax(size_t n, const double *x, double *y);
TG_API void tg_local_log_softmax_vjp(size_t n, const double *y, const double *dy, double *dx);

/* ---- refusals of the functions above ----
 * The functions that return a tg_status refuse bad input with a message (tg_last_error).
 * The others cannot return a status, so a refusal records TG_ERR_* and its message as
 * the last error and returns what it can: leaky_relu's value and derivative return NaN
 * for a bad slope (with `at` = TG_POINT_BAD_PARAM); linear_grad_*, transpose, the axis
 * functions and the softmax vector-Jacobian products write nothing when an array is NULL
 * (with nonzero sizes) or a size product overflows size_t; mean_axis over n = 0 entries
 * writes NaN. log and sqrt below 0 are not refusals: NaN is their value there, reported
 * through `at` alone. */

#ifdef __cplusplus
}
#endif
#endif
