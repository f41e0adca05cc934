/* The tape: applies rules, records them, and sweeps them backward.
 *
 * Intermediates (struct, data, gradient) and whatever rules save live in the tape's
 * arena; the record is an array of nodes that grows to the size of the largest step
 * and stays. So once a training loop is warm, a step allocates nothing. */
#include <stdio.h>
#include <string.h>
#include "internal.h"

struct tg_tape {
    tg__arena arena;
    tg_node *nodes;
    size_t n_nodes, cap_nodes;
    int recording;
    size_t kinks;
    tg_status status;      /* first error since creation or reset */
    char message[512];
};

tg_tape *tg_tape_new(void)
{
    tg_tape *t = tg__alloc(sizeof *t);
    if (!t) {
        tg__fail(TG_ERR_NOMEM, "tg_tape_new: out of memory");
        return NULL;
    }
    memset(t, 0, sizeof *t);
    t->recording = 1;
    return t;
}

void tg_tape_free(tg_tape *t)
{
    if (!t)
        return;
    tg__arena_free(&t->arena);
    tg__free(t->nodes);
    tg__free(t);
}

void tg_tape_reset(tg_tape *t)
{
    if (!t)
        return;
    tg__arena_reset(&t->arena);
    t->n_nodes = 0;
    t->kinks = 0;
    t->status = TG_OK;
    t->message[0] = '\0';
}

int tg_tape_set_recording(tg_tape *t, int on)
{
    int old;
    if (!t)
        return 0;
    old = t->recording;
    t->recording = on != 0;
    return old;
}

tg_status tg_tape_status(const tg_tape *t) { return t ? t->status : TG_ERR_NULL; }
const char *tg_tape_error(const tg_tape *t) { return t ? t->message : "tape is NULL"; }
size_t tg_tape_kinks(const tg_tape *t) { return t ? t->kinks : 0; }
size_t tg_tape_length(const tg_tape *t) { return t ? t->n_nodes : 0; }

const tg_node *tg_tape_node(const tg_tape *t, size_t i)
{
    return (t && i < t->n_nodes) ? &t->nodes[i] : NULL;
}

/* Records the first error on the tape (later ones are consequences) and as the thread's
 * last error. */
static tg_status tape_fail(tg_tape *t, tg_status s, const char *fmt, ...) TG__PRINTF(3, 4);
static tg_status tape_fail(tg_tape *t, tg_status s, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (t->status == TG_OK) {
        t->status = s;
        memcpy(t->message, msg, sizeof msg);
    }
    return tg__fail(s, "%s", msg);
}

/* view: data to alias instead of allocating (TG_RULE_VIEW), or NULL */
static tg_tensor *arena_tensor(tg_tape *t, size_t rank, const size_t *shape, size_t n,
                               int with_grad, float *view)
{
    tg_tensor *x = tg__arena_alloc(&t->arena, sizeof *x);
    float *data = !x ? NULL : view ? view : tg__arena_alloc(&t->arena, n * sizeof(float));
    float *grad = (data && with_grad) ? tg__arena_alloc(&t->arena, n * sizeof(float)) : NULL;
    if (!data || (with_grad && !grad))
        return NULL;
    memset(x, 0, sizeof *x);
    x->data = data;
    x->grad = grad;
    x->size = n;
    x->rank = rank;
    for (size_t i = 0; i < rank; i++)
        x->shape[i] = shape[i];
    x->kind = TG_INTERMEDIATE;
    x->tape = t;
    return x;
}

tg_tensor *tg_tape_const(tg_tape *t, size_t rank, const size_t *shape)
{
    size_t n;
    tg_tensor *x;
    if (!t) {
        tg__fail(TG_ERR_NULL, "tg_tape_const: tape is NULL");
        return NULL;
    }
    if (t->status != TG_OK) {
        tg__fail(t->status, "%s", t->message);
        return NULL;
    }
    if (tg__check_shape("tg_tape_const", rank, shape, &n) != TG_OK) {
        tape_fail(t, tg_last_status(), "%s", tg_last_error());
        return NULL;
    }
    x = arena_tensor(t, rank, shape, n, 0, NULL);
    if (!x) {
        tape_fail(t, TG_ERR_NOMEM, "tg_tape_const: out of memory for %zu elements", n);
        return NULL;
    }
    memset(x->data, 0, n * sizeof(float));
    return x;
}

void *tg_node_scratch(tg_node *node, size_t bytes)
{
    return (node && node->tape) ? tg__arena_alloc(&node->tape->arena, bytes) : NULL;
}

tg_status tg_infer_same_shape(tg_node *node, size_t *rank, size_t shape[TG_MAX_RANK])
{
    const tg_tensor *x = node->in[0];
    for (size_t i = 0; i < node->rule->n_params; i++)
        if (node->param[i] - node->param[i] != 0.0f) {
            node->why = "parameters must be finite";
            return TG_ERR_PARAM;
        }
    *rank = x->rank;
    for (size_t i = 0; i < x->rank; i++)
        shape[i] = x->shape[i];
    return TG_OK;
}

static int push_node(tg_tape *t, const tg_node *node)
{
    if (t->n_nodes == t->cap_nodes) {
        const size_t cap = t->cap_nodes ? 2 * t->cap_nodes : 64;
        tg_node *grown = tg__alloc(cap * sizeof *grown);
        if (!grown)
            return 0;
        if (t->n_nodes)
            memcpy(grown, t->nodes, t->n_nodes * sizeof *grown);
        tg__free(t->nodes);
        t->nodes = grown;
        t->cap_nodes = cap;
    }
    t->nodes[t->n_nodes++] = *node;
    return 1;
}

/* "rule: reason (eps = 0; inputs [2,3], [4])": the parameters are named only when one
 * of them is the reason. */
static tg_status rule_fail(tg_tape *t, const tg_node *node, tg_status s, const char *stage)
{
    char shapes[256], params[160] = "";
    size_t used = 0;
    tg__shapes_str(node->in, node->n_in, shapes, sizeof shapes);
    for (size_t i = 0; s == TG_ERR_PARAM && i < node->rule->n_params && used < sizeof params; i++)
        used += (size_t)snprintf(params + used, sizeof params - used, "%s = %g; ",
                                 node->rule->param_names[i], (double)node->param[i]);
    return tape_fail(t, s, "%s: %s%s (%sinputs %s)", node->rule->name, stage,
                     node->why ? node->why : tg_strerror(s), params, shapes);
}

static tg_status check_inputs(tg_tape *t, const tg_rule *rule, tg_tensor *const *inputs,
                              size_t n)
{
    if (!rule)
        return tape_fail(t, TG_ERR_NULL, "tg_apply: rule is NULL");
    if (n != rule->arity)
        return tape_fail(t, TG_ERR_ARITY, "%s: takes %zu inputs, got %zu", rule->name,
                         rule->arity, n);
    if (n > 0 && !inputs)
        return tape_fail(t, TG_ERR_NULL, "%s: inputs array is NULL", rule->name);
    for (size_t i = 0; i < n; i++) {
        if (!inputs[i])
            return tape_fail(t, TG_ERR_NULL, "%s: input %zu is NULL", rule->name, i);
        if (inputs[i]->kind == TG_INTERMEDIATE && inputs[i]->tape != t)
            return tape_fail(t, TG_ERR_TAPE, "%s: input %zu belongs to another tape",
                             rule->name, i);
    }
    return TG_OK;
}

tg_tensor *tg_apply(tg_tape *t, const tg_rule *rule, tg_tensor *const *inputs, size_t n,
                    const float *params)
{
    tg_node node;
    size_t rank = 0, shape[TG_MAX_RANK], size;
    int needs_grad = 0;
    tg_status s;
    if (!t) {
        tg__fail(TG_ERR_NULL, "tg_apply: tape is NULL");
        return NULL;
    }
    if (t->status != TG_OK) {   /* one check per step is enough for the caller */
        tg__fail(t->status, "%s", t->message);
        return NULL;
    }
    if (check_inputs(t, rule, inputs, n) != TG_OK)
        return NULL;
    memset(&node, 0, sizeof node);
    node.rule = rule;
    node.n_in = n;
    node.tape = t;
    for (size_t i = 0; i < n; i++) {
        node.in[i] = inputs[i];
        needs_grad |= inputs[i]->grad != NULL;
    }
    for (size_t i = 0; i < rule->n_params; i++)
        node.param[i] = params ? params[i] : rule->param_defaults[i];
    s = rule->infer(&node, &rank, shape);
    if (s != TG_OK) {
        rule_fail(t, &node, s, "");
        return NULL;
    }
    if (tg__check_shape(rule->name, rank, shape, &size) != TG_OK) {
        tape_fail(t, tg_last_status(), "%s", tg_last_error());
        return NULL;
    }
    if ((rule->flags & TG_RULE_VIEW) && (n == 0 || size > inputs[0]->size)) {
        node.why = "a view needs an input 0 with at least as many elements";
        rule_fail(t, &node, TG_ERR_SHAPE, "");
        return NULL;
    }
    node.out = arena_tensor(t, rank, shape, size, needs_grad && t->recording,
                            (rule->flags & TG_RULE_VIEW) ? inputs[0]->data : NULL);
    if (!node.out) {
        rule_fail(t, &node, TG_ERR_NOMEM, "output: ");
        return NULL;
    }
    s = rule->forward(&node);
    if (s != TG_OK) {
        rule_fail(t, &node, s, "forward: ");
        return NULL;
    }
    if (t->recording) {
        if (!push_node(t, &node)) {
            rule_fail(t, &node, TG_ERR_NOMEM, "record: ");
            return NULL;
        }
        node.out->node = t->n_nodes;
    }
    return node.out;
}

static tg_status check_backward(tg_tape *t, const tg_tensor *out, const tg_tensor *seed)
{
    char a[96], b[96];
    if (!out)
        return tape_fail(t, TG_ERR_NULL, "tg_backward: output is NULL");
    if (out->kind != TG_INTERMEDIATE || out->tape != t || out->node == 0 ||
        out->node > t->n_nodes || t->nodes[out->node - 1].out != out)
        return tape_fail(t, TG_ERR_TAPE, "tg_backward: output %s was not recorded on this tape",
                         tg_shape_str(out, a, sizeof a));
    if (!out->grad)
        return tape_fail(t, TG_ERR_STATE,
                         "tg_backward: output %s does not depend on any parameter",
                         tg_shape_str(out, a, sizeof a));
    if (!seed && out->size != 1)
        return tape_fail(t, TG_ERR_SHAPE,
                         "tg_backward: output %s has %zu elements: pass a seed (cotangent)",
                         tg_shape_str(out, a, sizeof a), out->size);
    if (seed && !tg__same_shape(seed, out))
        return tape_fail(t, TG_ERR_SHAPE, "tg_backward: seed %s does not match output %s",
                         tg_shape_str(seed, b, sizeof b), tg_shape_str(out, a, sizeof a));
    return TG_OK;
}

tg_status tg_backward(tg_tape *t, tg_tensor *out, const tg_tensor *seed)
{
    size_t end;
    if (!t)
        return tg__fail(TG_ERR_NULL, "tg_backward: tape is NULL");
    if (t->status != TG_OK)
        return tg__fail(t->status, "%s", t->message);
    if (check_backward(t, out, seed) != TG_OK)
        return t->status;
    end = out->node;
    /* Intermediate gradients start from zero on every sweep; parameters accumulate. */
    for (size_t i = 0; i < end; i++) {
        tg_tensor *y = t->nodes[i].out;
        t->nodes[i].kinks = 0;
        y->touched = 0;
        if (y->grad)
            memset(y->grad, 0, y->size * sizeof(float));
    }
    if (seed)
        memcpy(out->grad, seed->data, out->size * sizeof(float));
    else
        out->grad[0] = 1.0f;
    out->touched = 1;
    t->kinks = 0;
    for (size_t i = end; i-- > 0;) {
        tg_node *node = &t->nodes[i];
        tg_status s;
        if (!node->out->grad || !node->out->touched)
            continue;   /* no gradient flows through this record */
        s = node->rule->backward(node);
        if (s != TG_OK)
            return rule_fail(t, node, s, "backward: ");
        t->kinks += node->kinks;
        for (size_t k = 0; k < node->n_in; k++)   /* only intermediates are swept */
            if (node->in[k]->kind == TG_INTERMEDIATE)
                node->in[k]->touched = 1;
    }
    return TG_OK;
}

tg_status tg__tape_adopt_error(tg_tape *t)
{
    return tape_fail(t, tg_last_status(), "%s", tg_last_error());
}
