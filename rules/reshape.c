/* reshape: the same elements in the same row-major order under another shape. A view
 * (TG_RULE_VIEW): tg_apply points the output's data at the input's, so nothing is
 * copied, and a later change to the input's data shows through the output (and the
 * other way round). The gradient is the output's own buffer: the Jacobian is the
 * identity on the flat data, so backward adds the cotangent into the input's gradient
 * element by element.
 *
 * The target shape travels as the four float parameters d0..d3: the leading nonzero
 * entries are the dimensions and unused trailing entries are 0 (all 0: rank 0, for a
 * one-element input). One entry may be -1, standing for the dimension that makes the
 * element counts equal. The defaults (-1, 0, 0, 0) flatten. A float holds every integer
 * up to 2^24 exactly, and larger ones only when their low bits are 0: tg_reshape passes
 * NaN for a dimension a float cannot hold (and for 0, a value below -1, more than
 * TG_MAX_RANK dimensions or a NULL shape), which infer refuses with TG_ERR_PARAM. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include "internal.h"

/* Dimensions >= 1 and at most one -1 against `count` elements: writes the shape or
 * returns a refusal with its reason in *why. */
static tg_status resolve(size_t count, size_t rank, const long *target, size_t *shape,
                         const char **why)
{
    size_t known = 1, inferred = rank;
    int overflow = 0;
    for (size_t i = 0; i < rank; i++) {
        if (target[i] == -1 && inferred == rank) {
            inferred = i;
            continue;
        }
        if (target[i] < 1) {
            *why = target[i] == -1 ? "at most one dimension may be -1"
                                   : "dimensions must be >= 1, or -1 for one inferred one";
            return TG_ERR_PARAM;
        }
        shape[i] = (size_t)target[i];
        known = tg__mul_size(known, shape[i], &overflow);
    }
    if (overflow || (inferred < rank ? count % known != 0 : known != count)) {
        *why = "the element counts differ";
        return TG_ERR_SHAPE;
    }
    if (inferred < rank)
        shape[inferred] = count / known;   /* >= 1: count is a nonzero multiple of known */
    return TG_OK;
}

/* Reads the parameters into a target of *rank entries, or returns the reason they are
 * not one. */
static const char *target_of(const tg_node *n, size_t *rank, long target[TG_MAX_RANK])
{
    *rank = 0;
    for (size_t i = 0; i < TG_MAX_RANK; i++) {
        const float v = n->param[i];
        if (v != v)
            return "a dimension is NaN: tg_reshape was given 0, a value below -1, more than 4 "
                   "dimensions, a NULL shape, or a dimension a float cannot hold exactly";
        if (v != floorf(v) || v < -1.0f || v > 0x1p40f || (double)v > (double)LONG_MAX)
            return "dimensions must be integers >= 1 (at most 2^40), or -1 for one inferred one";
        if (v != 0.0f && *rank < i)
            return "0 marks unused trailing entries: no dimension may follow it";
        if (v != 0.0f)
            target[(*rank)++] = (long)v;
    }
    return NULL;
}

static tg_status reshape_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    long target[TG_MAX_RANK];
    const char *why = target_of(n, rank, target);
    tg_status s;
    if (why) {
        n->why = why;
        return TG_ERR_PARAM;
    }
    s = resolve(n->in[0]->size, *rank, target, shape, &why);
    if (s == TG_ERR_SHAPE) {
        char dims[64] = "";
        size_t used = 0;
        for (size_t i = 0; i < *rank && used < sizeof dims; i++)
            used += (size_t)snprintf(dims + used, sizeof dims - used, i ? ",%ld" : "%ld",
                                     target[i]);
        tg__why(n, "%zu elements do not fit the target [%s]", n->in[0]->size, dims);
    } else if (s != TG_OK) {
        n->why = why;
    }
    return s;
}

/* Nothing to compute: tg_apply made the output a view of the input's data. */
static tg_status reshape_forward(tg_node *n)
{
    (void)n;
    return TG_OK;
}

static tg_status reshape_backward(tg_node *n)
{
    const float *gy = n->out->grad;
    float *gx = n->in[0]->grad;
    if (gx)
        for (size_t i = 0; i < n->out->size; i++)
            gx[i] += gy[i];
    return TG_OK;
}

const tg_rule tg__rule_reshape = {
    .name = "reshape", .arity = 1, .n_params = 4, .param_names = { "d0", "d1", "d2", "d3" },
    .param_defaults = { -1.0f, 0.0f, 0.0f, 0.0f }, .infer = reshape_infer,
    .forward = reshape_forward, .backward = reshape_backward, .flags = TG_RULE_VIEW,
};

tg_status tg_local_reshape_shape(size_t count, size_t rank, const long *target, size_t *shape)
{
    const char *why = NULL;
    tg_status s;
    if (rank > 0 && (!target || !shape))
        return tg__fail(TG_ERR_NULL, "tg_local_reshape_shape: target and shape must not be NULL");
    if (count == 0)   /* no tensor has 0 elements: a -1 would become a 0 dimension */
        return tg__fail(TG_ERR_SIZE, "tg_local_reshape_shape: count = 0 (rank %zu)", rank);
    s = resolve(count, rank, target, shape, &why);
    if (s != TG_OK)
        return tg__fail(s, "tg_local_reshape_shape: %s (%zu elements, %zu target dimensions)",
                        why, count, rank);
    return TG_OK;
}

/* A float parameter carrying v exactly, or NaN, which infer refuses with its reason. */
static float carried(long v)
{
    const float f = (float)v;
    return v == -1 || (v >= 1 && (double)v <= 0x1p40 && (double)f == (double)v) ? f : NAN;
}

tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, size_t rank, const long *shape)
{
    float p[TG_MAX_PARAMS] = { 0.0f, 0.0f, 0.0f, 0.0f };
    if (rank > TG_MAX_RANK || (rank > 0 && !shape))
        p[0] = NAN;
    else
        for (size_t i = 0; i < rank; i++)
            p[i] = carried(shape[i]);
    return tg_apply(t, &tg__rule_reshape, &x, 1, p);
}
