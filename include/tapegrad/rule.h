/* Local derivative rules: what a rule is, the registry, and applying one on a tape.
 *
 * A rule works on whole tensors: forward fills node->out->data from the inputs once
 * per application, backward reads node->out->grad (the cotangent) and ADDS the
 * vector-Jacobian product into every input that has a gradient (in[i]->grad != NULL).
 * Adding, never overwriting, is what makes fan-out correct. */
#ifndef TAPEGRAD_RULE_H
#define TAPEGRAD_RULE_H

#include <stddef.h>
#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_MAX_ARITY 4
#define TG_MAX_PARAMS 4
#define TG_MAX_USER_RULES 256

typedef struct tg_rule tg_rule;

/* One application of a rule, as recorded on the tape. */
typedef struct tg_node {
    const tg_rule *rule;
    size_t n_in;
    tg_tensor *in[TG_MAX_ARITY];
    tg_tensor *out;
    float param[TG_MAX_PARAMS];   /* the rule's parameters, defaults filled in */
    void *saved;                  /* what forward kept for backward (tg_node_scratch) */
    size_t kinks;                 /* elements backward found at a kink point */
    const char *why;              /* a rule sets this to explain a refusal */
    tg_tape *tape;
} tg_node;

struct tg_rule {
    const char *name;                         /* unique; "relu", "linear", ... */
    size_t arity;                             /* 1..TG_MAX_ARITY inputs */
    size_t n_params;                          /* 0..TG_MAX_PARAMS */
    const char *param_names[TG_MAX_PARAMS];   /* "eps", "alpha", ... */
    float param_defaults[TG_MAX_PARAMS];
    /* Checks inputs and parameters; on success writes the output rank and shape.
     * On refusal returns TG_ERR_SHAPE / TG_ERR_PARAM / ... and may set node->why. */
    tg_status (*infer)(tg_node *node, size_t *rank, size_t shape[TG_MAX_RANK]);
    /* Fills node->out->data. May refuse data it cannot handle (TG_ERR_DOMAIN). */
    tg_status (*forward)(tg_node *node);
    /* Adds the vector-Jacobian product into each input gradient that is non-NULL;
     * counts kink points in node->kinks. */
    tg_status (*backward)(tg_node *node);
    /* TG_RULE_* bits; 0 for an ordinary rule. */
    unsigned flags;
};

/* The output's data aliases input 0's data (a view, such as reshape): tg_apply gives the
 * output no data of its own and points it at input 0's, which must have at least as many
 * elements. forward then has nothing to compute. The gradient is still the output's own
 * buffer, and backward adds it into input 0's gradient as any rule does. */
#define TG_RULE_VIEW 1u

/* Adds a user rule. The struct (and its strings) must outlive every use: keep it
 * static. Thread-safe. Refuses a NULL callback, a bad arity or parameter count, and a
 * name already taken (TG_ERR_EXISTS), built-in names included. */
TG_API tg_status tg_rule_register(const tg_rule *rule);
/* Finds a built-in or registered rule by name; NULL if none. Thread-safe. */
TG_API const tg_rule *tg_rule_find(const char *name);
/* Enumerates every rule, built-ins first: i in [0, tg_rule_count()). tg_rule_at
 * returns NULL with TG_ERR_NOT_FOUND set for an index out of range. */
TG_API size_t tg_rule_count(void);
TG_API const tg_rule *tg_rule_at(size_t i);

/* Applies `rule` to n inputs with the given parameters (NULL: the rule's defaults).
 * The rule need not be registered, but it is checked as tg_rule_register checks one
 * (non-NULL name and callbacks, arity 1..TG_MAX_ARITY, at most TG_MAX_PARAMS named
 * parameters) on every application, and refused otherwise (TG_ERR_NULL, TG_ERR_ARITY).
 * A rule's callbacks may not apply rules, run tg_backward or reset on the tape they run
 * on: such calls are refused with TG_ERR_STATE (and the error stays on the tape).
 * Returns the output, an intermediate owned by the tape, or NULL on error; after an
 * error the tape keeps its first error and later applications return NULL at once,
 * so a training step can be checked once, at its end (tg_tape_status). */
TG_API tg_tensor *tg_apply(tg_tape *tape, const tg_rule *rule, tg_tensor *const *inputs,
                           size_t n, const float *params);

/* For rule authors: memory for node->saved or temporary use, from the tape's arena,
 * 64-byte aligned, valid until the tape is reset. NULL (and tg_last_error() set) when
 * allocation fails. */
TG_API void *tg_node_scratch(tg_node *node, size_t bytes);
/* For rule authors: the infer function of rules whose output has the shape of their
 * single input, with every parameter required finite. */
TG_API tg_status tg_infer_same_shape(tg_node *node, size_t *rank, size_t shape[TG_MAX_RANK]);

#ifdef __cplusplus
}
#endif
#endif
