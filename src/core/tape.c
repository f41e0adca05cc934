/* The tape: applies rules, records them, and sweeps them backward.
 *
 * Memory. Intermediates' data and gradients, and whatever rules save, live in the
 * tape's arena, which reset rewinds. The tensor STRUCTS live apart, in two pools of
 * fixed chunks that never move and never hold anything but tensor structs:
 * generation g takes its structs from pool g % 2. So a pointer kept across a reset
 * always points at a tensor struct (never at reused float data) whose `gen` is older
 * than the tape's, and is refused; the next generation, which would reuse its slot,
 * draws from the other pool. (A pointer kept across two or more resets may point at a
 * slot that now holds a tensor of the current step: it is then that tensor. With a
 * bounded memory some address must eventually be reused; two pools make the common
 * mistake, a tensor kept for the next step, always an error.)
 *
 * The record is an array of nodes that grows to the size of the largest step and
 * stays, so once a training loop is warm (two steps, one per pool) a step allocates
 * nothing. */
#include <stdio.h>
#include <string.h>
#include "internal.h"

#define POOL_CHUNK 128   /* tensor structs per chunk */

typedef struct {
    tg_tensor **chunk;   /* chunks of POOL_CHUNK structs; a struct's address never changes */
    size_t n_chunks, cap_chunks;
    size_t cur;          /* the chunk being handed out in the current generation */
    tg_tensor *next, *end;   /* its free part; both NULL before the first chunk */
} tensor_pool;

#define FLOAT_CHUNK ((size_t)16 * 1024)   /* bytes taken from the arena at a time */

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE static inline
#endif

struct tg_tape {
    tg__arena arena;       /* data, gradients, rules' scratch: rewound by reset */
    unsigned char *bump, *bump_end;   /* a piece of the arena tensors' floats come from */
    tensor_pool pool[2];   /* tensor structs: generation g uses pool[g & 1] */
    uint64_t gen;          /* advanced by every reset; starts at 1 */
    uint64_t sweeps;       /* backward sweeps so far, never rewound: marks gradients */
    tg_node *nodes;
    size_t n_nodes, cap_nodes;
    int recording;
    int anomaly;           /* check every value a rule writes (tg_tape_set_anomaly) */
    int busy;              /* a rule's callback is running: the tape is not to be used */
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
    t->gen = 1;
    return t;
}

/* Hands out the pool's structs from the start again. */
static void pool_rewind(tensor_pool *p)
{
    p->cur = 0;
    p->next = p->n_chunks ? p->chunk[0] : NULL;
    p->end = p->n_chunks ? p->chunk[0] + POOL_CHUNK : NULL;
}

/* The slow path of taking a struct: the current chunk is used up; move to the next
 * one, adding it first if the pool has none left. */
static tg_tensor *pool_take(tensor_pool *p)
{
    const size_t want = p->next ? p->cur + 1 : 0;
    if (want == p->n_chunks) {
        tg_tensor *chunk;
        if (p->n_chunks == p->cap_chunks) {   /* the index of chunks doubles */
            const size_t cap = p->cap_chunks ? 2 * p->cap_chunks : 8;
            tg_tensor **index = tg__alloc(cap * sizeof *index);
            if (!index)
                return NULL;
            if (p->n_chunks)
                memcpy(index, p->chunk, p->n_chunks * sizeof *index);
            tg__free(p->chunk);
            p->chunk = index;
            p->cap_chunks = cap;
        }
        chunk = tg__alloc(POOL_CHUNK * sizeof *chunk);
        if (!chunk)
            return NULL;
        p->chunk[p->n_chunks++] = chunk;
    }
    p->cur = want;
    p->next = p->chunk[want] + 1;
    p->end = p->chunk[want] + POOL_CHUNK;
    return p->chunk[want];
}

static void pool_free(tensor_pool *p)
{
    for (size_t i = 0; i < p->n_chunks; i++)
        tg__free(p->chunk[i]);
    tg__free(p->chunk);
}

void tg_tape_free(tg_tape *t)
{
    if (!t)
        return;
    tg__arena_free(&t->arena);
    pool_free(&t->pool[0]);
    pool_free(&t->pool[1]);
    tg__free(t->nodes);
    tg__free(t);
}

static tg_status tape_fail(tg_tape *t, tg_status s, const char *fmt, ...) TG__PRINTF(3, 4);

/* A rule's infer, forward or backward must not apply rules, sweep or reset on its own
 * tape: the record it is part of is being written or read. */
static tg_status refuse_busy(tg_tape *t, const char *who)
{
    return tape_fail(t, TG_ERR_STATE, "%s: called from inside a rule's infer, forward or "
                     "backward on the same tape", who);
}

void tg_tape_reset(tg_tape *t)
{
    if (!t)
        return;
    if (t->busy) {
        refuse_busy(t, "tg_tape_reset");
        return;
    }
    tg__arena_reset(&t->arena);
    t->bump = t->bump_end = NULL;
    t->gen++;
    pool_rewind(&t->pool[t->gen & 1]);   /* its structs are two generations old */
    t->n_nodes = 0;
    t->kinks = 0;
    t->status = TG_OK;
    t->message[0] = '\0';
}

int tg_tape_set_recording(tg_tape *t, int on)
{
    int old;
    if (!t) {
        tg__fail(TG_ERR_NULL, "tg_tape_set_recording: tape is NULL");
        return 0;
    }
    old = t->recording;
    t->recording = on != 0;
    return old;
}

int tg_tape_set_anomaly(tg_tape *t, int on)
{
    int old;
    if (!t) {
        tg__fail(TG_ERR_NULL, "tg_tape_set_anomaly: tape is NULL");
        return 0;
    }
    old = t->anomaly;
    t->anomaly = on != 0;
    return old;
}

tg_status tg_tape_status(const tg_tape *t)
{
    return t ? t->status : tg__fail(TG_ERR_NULL, "tg_tape_status: tape is NULL");
}

const char *tg_tape_error(const tg_tape *t)
{
    if (!t) {
        tg__fail(TG_ERR_NULL, "tg_tape_error: tape is NULL");
        return "tape is NULL";
    }
    return t->message;
}

size_t tg_tape_kinks(const tg_tape *t)
{
    if (!t)
        tg__fail(TG_ERR_NULL, "tg_tape_kinks: tape is NULL");
    return t ? t->kinks : 0;
}

size_t tg_tape_length(const tg_tape *t)
{
    if (!t)
        tg__fail(TG_ERR_NULL, "tg_tape_length: tape is NULL");
    return t ? t->n_nodes : 0;
}

const tg_node *tg_tape_node(const tg_tape *t, size_t i)
{
    if (!t) {
        tg__fail(TG_ERR_NULL, "tg_tape_node: tape is NULL");
        return NULL;
    }
    if (i >= t->n_nodes) {
        tg__fail(TG_ERR_TAPE, "tg_tape_node: record %zu is out of range (the tape holds %zu)",
                 i, t->n_nodes);
        return NULL;
    }
    return &t->nodes[i];
}

/* Records the first error on the tape (later ones are consequences) and as the thread's
 * last error. */
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

/* ---- tensors: structs from the generation's pool, floats from the arena ---------- */

/* Floats for tensors: bumped from a piece of the arena taken FLOAT_CHUNK bytes at a
 * time, so that the usual small tensor costs no call. bytes is a multiple of 64 (the
 * arena's alignment, which the pieces keep); a large request goes to the arena whole.
 * Every step asks the arena for the same pieces, so a warm step still allocates
 * nothing. */
static float *tensor_floats_slow(tg_tape *t, size_t bytes)
{
    unsigned char *p;
    if (bytes >= FLOAT_CHUNK / 4)
        return tg__arena_alloc(&t->arena, bytes);
    p = tg__arena_alloc(&t->arena, FLOAT_CHUNK);
    if (!p)
        return NULL;
    t->bump = p + bytes;
    t->bump_end = p + FLOAT_CHUNK;
    return (float *)p;
}

ALWAYS_INLINE float *tensor_floats(tg_tape *t, size_t bytes)
{
    unsigned char *p = t->bump;
    if ((size_t)(t->bump_end - p) < bytes)
        return tensor_floats_slow(t, bytes);
    t->bump = p + bytes;
    return (float *)p;
}

/* Zeroes `bytes` (a multiple of 64) at g: blocks of 16 floats become a few vector
 * stores inline, no call for the small gradients a chain of cheap rules makes. */
ALWAYS_INLINE void zero_floats(float *restrict g, size_t bytes)
{
    static const float zeros[16];
    for (size_t i = 0; i < bytes / sizeof(float); i += 16)
        memcpy(g + i, zeros, sizeof zeros);   /* a fixed size: inline vector moves */
}

/* A new intermediate of n elements: data uninitialised, gradient (if any) zero.
 * shape holds TG_MAX_RANK dimensions, zero past rank. view: data to alias instead of
 * allocating (TG_RULE_VIEW), or NULL. */
ALWAYS_INLINE tg_tensor *new_tensor(tg_tape *t, size_t rank, const size_t *shape, size_t n,
                                    int with_grad, float *view)
{
    /* data and gradient are one piece; the gradient starts on a 64-byte boundary.
     * tg__check_shape keeps 2 * bytes in range. */
    const size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    tensor_pool *p = &t->pool[t->gen & 1];
    float *data, *grad = NULL;
    tg_tensor *x;
    if (!view) {
        data = tensor_floats(t, with_grad ? 2 * bytes : bytes);
        if (data && with_grad)
            grad = data + bytes / sizeof(float);
    } else {   /* a view: only the gradient is its own */
        data = view;
        if (with_grad && !(grad = tensor_floats(t, bytes)))
            return NULL;
    }
    if (!data)
        return NULL;
    if (p->next != p->end)   /* the warm path, inline */
        x = p->next++;
    else
        x = pool_take(p);
    if (!x)
        return NULL;
    x->data = data;
    x->grad = grad;
    if (grad)
        zero_floats(grad, bytes);   /* unreached gradients read as zero */
    x->size = n;
    x->rank = rank;
    memcpy(x->shape, shape, sizeof x->shape);
    x->kind = TG_INTERMEDIATE;
    x->tape = t;
    x->node = 0;
    x->gen = t->gen;
    x->sweep = 0;
    x->owner = NULL;
    return x;
}

/* An intermediate may be used only on its own tape and in the generation that made
 * it. Reading x's fields is safe even for a stale pointer: it points into a pool. */
static int is_current(const tg_tape *t, const tg_tensor *x)
{
    return x->kind != TG_INTERMEDIATE || (x->tape == t && x->gen == t->gen);
}

/* what: "input 2", "output", "seed". */
static tg_status check_current(tg_tape *t, const tg_tensor *x, const char *who,
                               const char *what)
{
    char a[96];
    if (is_current(t, x))
        return TG_OK;
    if (x->tape != t)
        return tape_fail(t, TG_ERR_TAPE, "%s: %s %s belongs to another tape", who, what,
                         tg_shape_str(x, a, sizeof a));
    return tape_fail(t, TG_ERR_TAPE,
                     "%s: %s %s is an intermediate that outlived a reset of its tape "
                     "(made in generation %llu, the tape is at %llu)",
                     who, what, tg_shape_str(x, a, sizeof a), (unsigned long long)x->gen,
                     (unsigned long long)t->gen);
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
    {
        size_t padded[TG_MAX_RANK] = { 0 };
        for (size_t i = 0; i < rank; i++)
            padded[i] = shape[i];
        x = new_tensor(t, rank, padded, n, 0, NULL);
    }
    if (!x) {
        tape_fail(t, TG_ERR_NOMEM, "tg_tape_const: out of memory for %zu elements", n);
        return NULL;
    }
    memset(x->data, 0, n * sizeof(float));
    return x;
}

void *tg_node_scratch(tg_node *node, size_t bytes)
{
    void *p;
    if (!node || !node->tape) {
        tg__fail(TG_ERR_NULL, "tg_node_scratch: node %s", node ? "has no tape" : "is NULL");
        return NULL;
    }
    p = tg__arena_alloc(&node->tape->arena, bytes);
    if (!p)
        tg__fail(TG_ERR_NOMEM, "tg_node_scratch: %s: out of memory for %zu bytes",
                 node->rule ? node->rule->name : "rule", bytes);
    return p;
}

tg_status tg_infer_same_shape(tg_node *node, size_t *rank, size_t shape[TG_MAX_RANK])
{
    const tg_tensor *x;
    if (!node || !node->rule || !node->in[0])   /* tg_apply always passes all of these */
        return tg__fail(TG_ERR_NULL, "tg_infer_same_shape: node, its rule and its input "
                        "must not be NULL");
    x = node->in[0];
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

/* ---- applying a rule --------------------------------------------------------------- */

/* The next record, built in place (no copy); it counts once the application succeeds. */
static tg_node *reserve_node(tg_tape *t)
{
    if (t->n_nodes == t->cap_nodes) {
        const size_t cap = t->cap_nodes ? 2 * t->cap_nodes : 64;
        tg_node *grown;
        if (cap > SIZE_MAX / sizeof *grown)
            return NULL;
        grown = tg__alloc(cap * sizeof *grown);
        if (!grown)
            return NULL;
        if (t->n_nodes)
            memcpy(grown, t->nodes, t->n_nodes * sizeof *grown);
        tg__free(t->nodes);
        t->nodes = grown;
        t->cap_nodes = cap;
    }
    return &t->nodes[t->n_nodes];
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

/* Checks the inputs and copies them into the node; *needs_grad: does any carry one. */
static tg_status take_inputs(tg_tape *t, tg_node *node, tg_tensor *const *inputs, size_t n,
                             int *needs_grad)
{
    const tg_rule *rule = node->rule;
    int g = 0;
    if (n != rule->arity)
        return tape_fail(t, TG_ERR_ARITY, "%s: takes %zu inputs, got %zu", rule->name,
                         rule->arity, n);
    if (!inputs)
        return tape_fail(t, TG_ERR_NULL, "%s: inputs array is NULL", rule->name);
    for (size_t i = 0; i < n; i++) {
        tg_tensor *x = inputs[i];
        if (!x)
            return tape_fail(t, TG_ERR_NULL, "%s: input %zu is NULL", rule->name, i);
        if (!is_current(t, x)) {
            char what[32];
            snprintf(what, sizeof what, "input %zu", i);
            return check_current(t, x, rule->name, what);
        }
        node->in[i] = x;
        g |= x->grad != NULL;
    }
    *needs_grad = g;
    return TG_OK;
}

/* The output's element count: a fast product for the usual shapes (every dimension in
 * 1..2^15, so four of them cannot overflow: d - 1 wraps for 0 and fails the test),
 * tg__check_shape's checks and messages otherwise. */
static tg_status out_size(const char *who, size_t rank, const size_t *shape, size_t *size)
{
    if (rank <= TG_MAX_RANK) {
        size_t n = 1, bits = 0;
        for (size_t i = 0; i < rank; i++) {
            bits |= shape[i] - 1;
            n *= shape[i];
        }
        if (bits < ((size_t)1 << 15)) {
            *size = n;
            return TG_OK;
        }
    }
    return tg__check_shape(who, rank, shape, size);
}

/* ---- anomaly mode: the first rule that turns finite values into NaN or inf --------- */

/* Index of the first non-finite value, or n. x - x is 0 for finite x, NaN otherwise. */
static size_t first_nonfinite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] - v[i] != 0.0f)
            return i;
    return n;
}

static const char *value_name(float v)
{
    return v != v ? "NaN" : v > 0 ? "+inf" : "-inf";
}

static int inputs_finite(const tg_node *node)
{
    for (size_t k = 0; k < node->n_in; k++)
        if (first_nonfinite(node->in[k]->data, node->in[k]->size) < node->in[k]->size)
            return 0;
    return 1;
}

/* Checks a forward output; rec: is the application being recorded (it would be record
 * t->n_nodes), or is it inference. */
static tg_status anomaly_forward(tg_tape *t, const tg_node *node, int rec)
{
    const tg_tensor *y = node->out;
    const size_t i = first_nonfinite(y->data, y->size);
    char shapes[256], pos[48] = "not recorded";
    if (i == y->size || !inputs_finite(node))
        return TG_OK;   /* all finite, or not this rule's doing */
    if (rec)
        snprintf(pos, sizeof pos, "record %zu", t->n_nodes);
    tg__shapes_str(node->in, node->n_in, shapes, sizeof shapes);
    return tape_fail(t, TG_ERR_NONFINITE,
                     "anomaly: %s (%s) produced %s at output element %zu from finite inputs "
                     "(inputs %s)", node->rule->name, pos, value_name(y->data[i]), i, shapes);
}

/* Runs backward and checks each input gradient that was finite before it: it may turn
 * non-finite only when the cotangent or an input was not finite already. */
static tg_status anomaly_backward(tg_tape *t, tg_node *node, size_t at)
{
    int was_finite[TG_MAX_ARITY];
    const int clean = first_nonfinite(node->out->grad, node->out->size) == node->out->size &&
                      inputs_finite(node);
    tg_status s;
    for (size_t k = 0; k < node->n_in; k++) {
        const tg_tensor *x = node->in[k];
        was_finite[k] = x->grad && first_nonfinite(x->grad, x->size) == x->size;
    }
    s = node->rule->backward(node);
    if (s != TG_OK)
        return rule_fail(t, node, s, "backward: ");
    for (size_t k = 0; clean && k < node->n_in; k++) {
        const tg_tensor *x = node->in[k];
        const size_t i = was_finite[k] ? first_nonfinite(x->grad, x->size) : x->size;
        char shapes[256];
        if (i == x->size)
            continue;
        tg__shapes_str(node->in, node->n_in, shapes, sizeof shapes);
        return tape_fail(t, TG_ERR_NONFINITE,
                         "anomaly: backward of %s (record %zu) produced %s in the gradient of "
                         "input %zu at element %zu from a finite cotangent and finite inputs "
                         "(inputs %s)", node->rule->name, at, value_name(x->grad[i]), k, i,
                         shapes);
    }
    return TG_OK;
}

tg_tensor *tg_apply(tg_tape *t, const tg_rule *rule, tg_tensor *const *inputs, size_t n,
                    const float *params)
{
    tg_node local, *node;
    float *view = NULL;   /* TG_RULE_VIEW: input 0's data, which the output aliases */
    size_t rank = 0, shape[TG_MAX_RANK] = { 0 }, size;
    int needs_grad = 0, rec;
    tg_status s;
    if (!t) {
        tg__fail(TG_ERR_NULL, "tg_apply: tape is NULL");
        return NULL;
    }
    if ((t->status != TG_OK) | t->busy) {   /* one check per step is enough for the caller */
        if (t->status != TG_OK)
            tg__fail(t->status, "%s", t->message);
        else
            refuse_busy(t, "tg_apply");
        return NULL;
    }
    if (tg__check_rule(rule, "tg_apply") != TG_OK) {   /* any rule registration would take */
        tg__tape_adopt_error(t);
        return NULL;
    }
    rec = t->recording;   /* read once: a callback may change it */
    node = rec ? reserve_node(t) : &local;
    if (!node) {
        tape_fail(t, TG_ERR_NOMEM, "%s: record: out of memory for %zu records", rule->name,
                  2 * t->cap_nodes);
        return NULL;
    }
    node->rule = rule;
    memset(node->in, 0, sizeof node->in);
    if (take_inputs(t, node, inputs, n, &needs_grad) != TG_OK)
        return NULL;
    node->n_in = n;
    node->out = NULL;
    node->saved = NULL;
    node->kinks = 0;
    node->why = NULL;
    node->tape = t;
    if (!params)
        params = rule->param_defaults;
    memset(node->param, 0, sizeof node->param);
    for (size_t i = 0; i < rule->n_params; i++)
        node->param[i] = params[i];
    /* from infer to the end of forward, calls the rule makes on this tape are refused
     * (and leave the tape's error, which the step's end will see) */
    t->busy = 1;
    s = rule->infer(node, &rank, shape);
    if (s != TG_OK) {
        t->busy = 0;
        rule_fail(t, node, s, "");
        return NULL;
    }
    if (out_size(rule->name, rank, shape, &size) != TG_OK) {
        t->busy = 0;
        tape_fail(t, tg_last_status(), "%s", tg_last_error());
        return NULL;
    }
    if (rule->flags & TG_RULE_VIEW) {
        if (size > inputs[0]->size) {
            t->busy = 0;
            node->why = "a view needs an input 0 with at least as many elements";
            rule_fail(t, node, TG_ERR_SHAPE, "");
            return NULL;
        }
        view = inputs[0]->data;
    }
    node->out = new_tensor(t, rank, shape, size, needs_grad && rec, view);
    if (!node->out) {
        t->busy = 0;
        rule_fail(t, node, TG_ERR_NOMEM, "output: ");
        return NULL;
    }
    s = rule->forward(node);
    t->busy = 0;
    if (s != TG_OK) {
        rule_fail(t, node, s, "forward: ");
        return NULL;
    }
    if (t->anomaly && anomaly_forward(t, node, rec) != TG_OK)
        return NULL;
    if (rec)
        node->out->node = ++t->n_nodes;
    return node->out;
}

/* ---- the backward sweep ------------------------------------------------------------ */

static tg_status check_backward(tg_tape *t, const tg_tensor *out, const tg_tensor *seed)
{
    char a[96], b[96];
    if (!out)
        return tape_fail(t, TG_ERR_NULL, "tg_backward: output is NULL");
    if (check_current(t, out, "tg_backward", "output") != TG_OK)
        return t->status;
    if (out->kind != TG_INTERMEDIATE || out->node == 0 || out->node > t->n_nodes ||
        t->nodes[out->node - 1].out != out)
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
    if (seed && check_current(t, seed, "tg_backward", "seed") != TG_OK)
        return t->status;
    if (seed && !tg__same_shape(seed, out))
        return tape_fail(t, TG_ERR_SHAPE, "tg_backward: seed %s does not match output %s",
                         tg_shape_str(seed, b, sizeof b), tg_shape_str(out, a, sizeof a));
    return TG_OK;
}

/* One pass over the record, from `out` down. No pass before it: a gradient is zeroed
 * when it is made, and a later sweep over the same record zeroes an intermediate's
 * gradient again only when the first contribution to it arrives (x->sweep tells which
 * sweep last reached it). A record whose output no contribution reached is skipped. */
static tg_status sweep_back(tg_tape *t, tg_tensor *out, uint64_t sweep)
{
    for (size_t i = out->node; i-- > 0;) {
        tg_node *node = &t->nodes[i];
        tg_status s;
        node->kinks = 0;
        if (node->out->sweep != sweep)
            continue;   /* no gradient flows through this record */
        for (size_t k = 0; k < node->n_in; k++) {   /* parameters accumulate: not touched */
            tg_tensor *x = node->in[k];
            if (x->kind == TG_INTERMEDIATE && x->grad && x->sweep != sweep) {
                if (x->sweep != 0)   /* an earlier sweep on this record wrote it */
                    memset(x->grad, 0, x->size * sizeof(float));
                x->sweep = sweep;
            }
        }
        if (t->anomaly)
            s = anomaly_backward(t, node, i);
        else if ((s = node->rule->backward(node)) != TG_OK)
            s = rule_fail(t, node, s, "backward: ");
        if (s != TG_OK)
            return s;
        t->kinks += node->kinks;
    }
    return TG_OK;
}

tg_status tg_backward(tg_tape *t, tg_tensor *out, const tg_tensor *seed)
{
    tg_status s;
    if (!t)
        return tg__fail(TG_ERR_NULL, "tg_backward: tape is NULL");
    if (t->status != TG_OK)
        return tg__fail(t->status, "%s", t->message);
    if (t->busy)   /* called from a rule's callback */
        return refuse_busy(t, "tg_backward");
    if (check_backward(t, out, seed) != TG_OK)
        return t->status;
    if (seed)
        memcpy(out->grad, seed->data, out->size * sizeof(float));
    else
        out->grad[0] = 1.0f;
    out->sweep = ++t->sweeps;
    t->kinks = 0;
    t->busy = 1;
    s = sweep_back(t, out, t->sweeps);
    t->busy = 0;
    if (s == TG_OK && t->status != TG_OK)   /* a call a backward made on this tape */
        s = tg__fail(t->status, "%s", t->message);
    return s;
}

tg_status tg__tape_adopt_error(tg_tape *t)
{
    return tape_fail(t, tg_last_status(), "%s", tg_last_error());
}
