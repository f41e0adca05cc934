/* Layers (nn.h): a dense layer, y = x W^T + b, and a stack of them with an activation
 * between, the MLP. The parameters live in a tg_params set; a layer only points at
 * them. Initialization draws W first, then b, from the one generator. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

static const tg_dense_opts default_opts = { 0, TG_INIT_DEFAULT, TG_INIT_DEFAULT };

static int known_init(tg_init_kind k) { return k >= TG_INIT_DEFAULT && k <= TG_INIT_HE_NORMAL; }

/* Fills one tensor of a layer whose weight has fan_in `in`. */
static tg_status init_one(tg_tensor *t, tg_init_kind kind, size_t in, tg_pcg32 *rng)
{
    float bound;
    switch (kind) {
    case TG_INIT_DEFAULT:   /* PyTorch's nn.Linear: kaiming_uniform(a = sqrt 5) = U(+-1/sqrt in) */
        bound = (float)(1.0 / sqrt((double)in));
        return tg_init_uniform(t, -bound, bound, rng);
    case TG_INIT_ZEROS: return tg_init_zeros(t);
    case TG_INIT_XAVIER_UNIFORM: return tg_init_xavier_uniform(t, 0.0, rng);
    case TG_INIT_XAVIER_NORMAL: return tg_init_xavier_normal(t, 0.0, rng);
    case TG_INIT_HE_UNIFORM: return tg_init_he_uniform(t, 0.0, rng);
    case TG_INIT_HE_NORMAL: return tg_init_he_normal(t, 0.0, rng);
    }
    return tg__fail(TG_ERR_PARAM, "tg_dense_init: unknown initializer %d", (int)kind);
}

/* Whether ps holds `name` (tg_params_find would record a "not found" error). */
static int has_name(const tg_params *ps, const char *name)
{
    for (size_t i = 0; i < tg_params_count(ps); i++)
        if (strcmp(tg_params_name(ps, i), name) == 0)
            return 1;
    return 0;
}

/* "<name><suffix>" into buf (TG_PARAM_NAME_MAX + 1 bytes), refusing a name too long. */
static tg_status param_name(char *buf, const char *name, const char *suffix)
{
    const int n = snprintf(buf, TG_PARAM_NAME_MAX + 1, "%s%s", name, suffix);
    if (n < 0 || n > TG_PARAM_NAME_MAX)
        return tg__fail(TG_ERR_PARAM, "tg_dense_init: name \"%s%s\" is longer than %d bytes",
                        name, suffix, TG_PARAM_NAME_MAX);
    return TG_OK;
}

static tg_status check_dense(const tg_dense *layer, const tg_params *ps, const char *name,
                             size_t in, size_t out, const tg_dense_opts *o, const tg_pcg32 *rng)
{
    if (!layer || !ps || !name)
        return tg__fail(TG_ERR_NULL, "tg_dense_init: %s is NULL",
                        !layer ? "layer" : !ps ? "parameter set" : "name");
    if (in == 0 || out == 0)
        return tg__fail(TG_ERR_SIZE, "tg_dense_init: %s: a layer %zu -> %zu has a zero size",
                        name, in, out);
    if (!known_init(o->weight_init) || !known_init(o->bias_init))
        return tg__fail(TG_ERR_PARAM, "tg_dense_init: %s: unknown initializer (weight_init = %d, "
                        "bias_init = %d)", name, (int)o->weight_init, (int)o->bias_init);
    if (!rng && (o->weight_init != TG_INIT_ZEROS || (!o->no_bias && o->bias_init != TG_INIT_ZEROS)))
        return tg__fail(TG_ERR_NULL, "tg_dense_init: %s: rng is NULL", name);
    return TG_OK;
}

tg_status tg_dense_init(tg_dense *layer, tg_params *ps, const char *name, size_t in,
                        size_t out, const tg_dense_opts *opts, tg_pcg32 *rng)
{
    const tg_dense_opts *o = opts ? opts : &default_opts;
    char wname[TG_PARAM_NAME_MAX + 1], bname[TG_PARAM_NAME_MAX + 1];
    tg_status s = check_dense(layer, ps, name, in, out, o, rng);
    tg_tensor *W, *b = NULL;
    if (s != TG_OK)
        return s;
    memset(layer, 0, sizeof *layer);
    /* Both names are checked before either is added, so only running out of memory can
     * leave the weight in the set without its bias. */
    if ((s = param_name(wname, name, ".weight")) != TG_OK ||
        (s = param_name(bname, name, ".bias")) != TG_OK)
        return s;
    if (has_name(ps, wname) || (!o->no_bias && has_name(ps, bname)))
        return tg__fail(TG_ERR_EXISTS, "tg_dense_init: the set already holds \"%s\"",
                        has_name(ps, wname) ? wname : bname);
    /* the callees' messages name them: put this function and the layer in front */
    W = tg_params_add(ps, wname, 2, (size_t[]){ out, in });
    if (!W)
        return tg__fail_in("tg_dense_init: %s", name);
    if (!o->no_bias && !(b = tg_params_add(ps, bname, 1, (size_t[]){ out })))
        return tg__fail_in("tg_dense_init: %s", name);
    if ((s = init_one(W, o->weight_init, in, rng)) != TG_OK ||
        (b && (s = init_one(b, o->bias_init, in, rng)) != TG_OK))
        return tg__fail_in("tg_dense_init: %s", name);
    layer->W = W;
    layer->b = b;
    layer->in = in;
    layer->out = out;
    return TG_OK;
}

/* A refusal of the layers' own, recorded on the tape too (when there is one), as a
 * rule's would be: the step is still checked once, at its end. */
static tg_tensor *refuse(tg_tape *t)
{
    if (t)
        tg__tape_adopt_error(t);
    return NULL;
}

tg_tensor *tg_dense_forward(tg_tape *t, const tg_dense *layer, tg_tensor *x)
{
    if (!layer) {
        tg__fail(TG_ERR_NULL, "tg_dense_forward: layer is NULL");
        return refuse(t);
    }
    if (!layer->W) {
        tg__fail(TG_ERR_STATE, "tg_dense_forward: the layer has no weight (not initialized?)");
        return refuse(t);
    }
    return tg_linear(t, x, layer->W, layer->b);
}

static tg_status check_mlp(const tg_mlp *m, const tg_params *ps, const char *name,
                           const size_t *sizes, size_t n_sizes, const tg_rule *act)
{
    if (!m || !ps || !name || !sizes)
        return tg__fail(TG_ERR_NULL, "tg_mlp_init: %s is NULL",
                        !m ? "mlp" : !ps ? "parameter set" : !name ? "name" : "sizes");
    if (n_sizes < 2 || n_sizes - 1 > TG_MLP_MAX_LAYERS)
        return tg__fail(TG_ERR_PARAM, "tg_mlp_init: %s: %zu sizes make %zu layers, not 1..%d",
                        name, n_sizes, n_sizes ? n_sizes - 1 : 0, TG_MLP_MAX_LAYERS);
    for (size_t i = 0; i < n_sizes; i++)
        if (sizes[i] == 0)
            return tg__fail(TG_ERR_SIZE, "tg_mlp_init: %s: sizes[%zu] is 0", name, i);
    if (n_sizes > 2 && !act)
        return tg__fail(TG_ERR_NULL, "tg_mlp_init: %s: activation is NULL (%zu layers need one "
                        "between them)", name, n_sizes - 1);
    if (act && act->arity != 1)
        return tg__fail(TG_ERR_ARITY, "tg_mlp_init: %s: activation \"%s\" takes %zu inputs, "
                        "not 1", name, act->name ? act->name : "?", act->arity);
    return TG_OK;
}

tg_status tg_mlp_init(tg_mlp *m, tg_params *ps, const char *name, const size_t *sizes,
                      size_t n_sizes, const tg_rule *act, const tg_dense_opts *opts,
                      tg_pcg32 *rng)
{
    tg_status s = check_mlp(m, ps, name, sizes, n_sizes, act);
    if (s != TG_OK)
        return s;
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i + 1 < n_sizes; i++) {
        char lname[TG_PARAM_NAME_MAX + 1];
        const int n = snprintf(lname, sizeof lname, "%s.%zu", name, i);
        if (n < 0 || n > TG_PARAM_NAME_MAX)
            return tg__fail(TG_ERR_PARAM, "tg_mlp_init: name \"%s.%zu\" is longer than %d bytes",
                            name, i, TG_PARAM_NAME_MAX);
        s = tg_dense_init(&m->layer[i], ps, lname, sizes[i], sizes[i + 1], opts, rng);
        if (s != TG_OK) {
            m->n_layers = 0;   /* unusable: forward refuses it */
            return tg__fail_in("tg_mlp_init");
        }
        m->n_layers = i + 1;
    }
    m->act = act;
    return TG_OK;
}

tg_tensor *tg_mlp_forward(tg_tape *t, const tg_mlp *m, tg_tensor *x)
{
    tg_tensor *h = x;
    if (!m) {
        tg__fail(TG_ERR_NULL, "tg_mlp_forward: mlp is NULL");
        return refuse(t);
    }
    if (m->n_layers == 0 || m->n_layers > TG_MLP_MAX_LAYERS) {
        tg__fail(TG_ERR_STATE, "tg_mlp_forward: the mlp has %zu layers (not initialized?)",
                 m->n_layers);
        return refuse(t);
    }
    if (m->n_layers > 1 && (!m->act || m->act->arity != 1)) {
        tg__fail(TG_ERR_STATE, "tg_mlp_forward: %zu layers need an activation of arity 1 "
                 "between them (act is %s)", m->n_layers, m->act ? "not unary" : "NULL");
        return refuse(t);
    }
    /* A failed step stays NULL: the tape keeps its first error and refuses the rest. */
    for (size_t i = 0; i < m->n_layers; i++) {
        h = tg_dense_forward(t, &m->layer[i], h);
        if (i + 1 < m->n_layers)
            h = tg_apply(t, m->act, &h, 1, NULL);
    }
    return h;
}
