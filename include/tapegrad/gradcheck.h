/* A gradient checker for users' rules and graphs: central differences per element,
 * plus a random-direction adjoint test <J v, u> = <v, J^T u>.
 *
 * Kinks (relu at 0, ...) do not cause false alarms: where the central difference at h
 * disagrees with the tape, the checker halves the step (down to h/64) until the
 * function is smooth between two successive steps (the one-sided slopes agree up to a
 * common error) and decides there. An element with a kink within h of it counts as
 * skipped, unless it is smooth at a finer step and disagrees there, which fails. A
 * wrong derivative cannot hide this way: where the function is smooth every one-sided
 * slope shares the derivative's error. */
#ifndef TAPEGRAD_GRADCHECK_H
#define TAPEGRAD_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>
#include "tape.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    double h;        /* central-difference step; 0 picks 1e-2 (float32 data) */
    double rtol;     /* 0 picks 2e-2 */
    double atol;     /* 0 picks 2e-3 */
    uint64_t seed;   /* for the random cotangent u and direction v */
} tg_gradcheck_opts;

typedef struct {
    int pass;              /* 1 when every checked element and the adjoint test pass */
    size_t checked;        /* elements compared */
    size_t skipped;        /* elements where f is not smooth within h (a kink) and that
                              did not fail at a finer step */
    size_t worst_wrt;      /* index into wrt[] of the worst element */
    size_t worst_index;    /* flat index of the worst element in that tensor */
    double worst_analytic; /* the tape's gradient there */
    double worst_numeric;  /* the central difference there (at the step that decided) */
    double worst_excess;   /* |a - n| / (atol + rtol |n|): > 1 fails */
    double adjoint_lhs;    /* <J v, u>, by central difference along v */
    double adjoint_rhs;    /* <v, J^T u>, from the tape */
    int adjoint_skipped;   /* 1 when f is not smooth along v at any step down to h/64:
                              the adjoint test could not be made (it does not fail) */
} tg_gradcheck_result;

/* Builds the graph on `tape` (which gradcheck resets as it needs) and returns its
 * output; called many times with the same wrt data slightly moved. */
typedef tg_tensor *(*tg_graph_fn)(tg_tape *tape, void *ctx);

/* Checks d<u, f>/d wrt[i] for every element of every wrt tensor (each must have a
 * gradient). wrt gradients are left zeroed. Returns TG_OK when the check ran (see
 * res->pass), or the error that stopped it: the graph's own (a NULL output with no
 * error on the tape is TG_ERR_STATE, an output whose size changes between calls
 * TG_ERR_SHAPE), or TG_ERR_DOMAIN when <u, f> is not finite at the point itself. */
TG_API tg_status tg_gradcheck(tg_graph_fn f, void *ctx, tg_tensor *const *wrt, size_t n_wrt,
                              const tg_gradcheck_opts *opts, tg_gradcheck_result *res);

/* The same for one rule applied to `inputs` with `params` (NULL: defaults): checks the
 * gradient of every input that has one. */
TG_API tg_status tg_gradcheck_rule(const tg_rule *rule, tg_tensor *const *inputs, size_t n,
                                   const float *params, const tg_gradcheck_opts *opts,
                                   tg_gradcheck_result *res);

#ifdef __cplusplus
}
#endif
#endif
