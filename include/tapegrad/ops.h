/* Typed wrappers: one per built-in rule, each a tg_apply of that rule.
 * Every wrapper returns NULL (and records the error on the tape) on bad input. */
#ifndef TAPEGRAD_OPS_H
#define TAPEGRAD_OPS_H

#include "tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Elementwise activations; the output has x's shape. The parameters, with the defaults
 * tg_apply uses when given NULL: leaky_relu alpha > 0 (0.01), elu alpha finite (1),
 * safe_log and smooth_abs eps > 0 (1e-6). */
TG_API tg_tensor *tg_relu(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_leaky_relu(tg_tape *t, tg_tensor *x, float alpha);
TG_API tg_tensor *tg_elu(tg_tape *t, tg_tensor *x, float alpha);
TG_API tg_tensor *tg_sigmoid(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_tanh(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_gelu(tg_tape *t, tg_tensor *x);       /* tanh form */
TG_API tg_tensor *tg_gelu_erf(tg_tape *t, tg_tensor *x);   /* exact, x * Phi(x) */
TG_API tg_tensor *tg_softplus(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_silu(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_safe_log(tg_tape *t, tg_tensor *x, float eps);
TG_API tg_tensor *tg_smooth_abs(tg_tape *t, tg_tensor *x, float eps);

/* y = x W^T + b: x [B,in], W [out,in] (PyTorch layout), b [out]; y [B,out].
 * x may also be one vector [in], giving y [out] (rules.md's y = W x + b). */
TG_API tg_tensor *tg_linear(tg_tape *t, tg_tensor *x, tg_tensor *W, tg_tensor *b);
/* Elementwise; one operand may have the trailing shape of the other (a bias [n]
 * against [B,n]) and is then repeated over the leading dimensions. */
TG_API tg_tensor *tg_add(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_sub(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_mul(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_scale(tg_tape *t, tg_tensor *x, float s);  /* s * x */
TG_API tg_tensor *tg_sum(tg_tape *t, tg_tensor *x);             /* all elements, rank 0 */
TG_API tg_tensor *tg_mean(tg_tape *t, tg_tensor *x);            /* all elements, rank 0 */
TG_API tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b); /* [M,K] x [K,N] */
TG_API tg_tensor *tg_concat(tg_tape *t, tg_tensor *a, tg_tensor *b); /* along the last axis */
/* mean over all elements of (pred - target)^2, rank 0. */
TG_API tg_tensor *tg_mse_loss(tg_tape *t, tg_tensor *pred, tg_tensor *target);
/* mean over the batch of -log softmax(logits)[label]: logits [B,C], labels [B] holding
 * integer class indices in [0, C) as floats (exact up to 2^24). Log-sum-exp stable. */
TG_API tg_tensor *tg_softmax_cross_entropy(tg_tape *t, tg_tensor *logits, tg_tensor *labels);

/* ---- the operations models need (docs/rules.md, "Operations for models") ----
 * add, sub, mul and div broadcast as NumPy does: shapes align from the right, a missing
 * leading dimension counts as 1, and a dimension of size 1 stretches to the other's
 * size ([B,1] with [B,n], [1,n] or [n] with [B,n], [B,1,n] with [B,m,n], a scalar with
 * anything); any other pair of sizes is refused with TG_ERR_SHAPE. The output has the
 * broadcast shape; a broadcast operand's gradient sums over the stretched dimensions.
 * div by zero gives IEEE infinities (NaN for 0/0). */
TG_API tg_tensor *tg_div(tg_tape *t, tg_tensor *a, tg_tensor *b);
/* Elementwise, output of x's shape. log and sqrt refuse a negative element with
 * TG_ERR_DOMAIN (the message names its index and value); 0 and -0 are accepted (log 0 =
 * -inf; the derivatives of log and sqrt at 0 are +inf). exp overflows to +inf. NaN
 * inputs propagate. */
TG_API tg_tensor *tg_exp(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_log(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_sqrt(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_square(tg_tape *t, tg_tensor *x);   /* x^2 */
TG_API tg_tensor *tg_neg(tg_tape *t, tg_tensor *x);      /* -x */
/* The same elements under `rank` dimensions (at most TG_MAX_RANK), one of which may be
 * -1 to be inferred; the element count must match (TG_ERR_SHAPE). A view: the output's
 * data IS x's data (no copy), so it sees later changes to x's data; its gradient is its
 * own. The target travels as the rule's four float parameters (unused ones 0). */
TG_API tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, size_t rank, const long *shape);
TG_API tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x);   /* [M,N] -> [N,M], a copy */
/* Sum or mean along one axis (negative counts from the end, -1 the last); keepdims 1
 * keeps it with size 1, 0 removes it. Accumulated in double. */
TG_API tg_tensor *tg_sum_axis(tg_tape *t, tg_tensor *x, int axis, int keepdims);
TG_API tg_tensor *tg_mean_axis(tg_tape *t, tg_tensor *x, int axis, int keepdims);
/* Along the last axis, stable (each row shifted by its maximum). -inf entries are
 * masked out; one +inf entry in a row gives the limit (a one-hot row); a row all -inf,
 * or with two or more +inf entries, has no value and is refused with TG_ERR_DOMAIN. */
TG_API tg_tensor *tg_softmax(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_log_softmax(tg_tape *t, tg_tensor *x);
/* tg_linear(t, x, W, NULL) is the layer without a bias, y = x W^T: the rule
 * linear_nobias (inputs x, W), through the same GEMM. */

#ifdef __cplusplus
}
#endif
#endif
