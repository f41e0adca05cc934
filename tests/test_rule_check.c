/* tg_rule_register and tg_apply validate a rule with the one internal check: every
 * malformed rule is refused by both, with the same status and the same reason, each
 * message starting with the refusing function's name. */
#include <criterion/criterion.h>
#include <string.h>
#include <tapegrad.h>

static tg_status copy_forward(tg_node *n)
{
    memcpy(n->out->data, n->in[0]->data, n->out->size * sizeof(float));
    return TG_OK;
}

static tg_status copy_backward(tg_node *n)
{
    (void)n;
    return TG_OK;
}

static const tg_rule good = { .name = "check_copy", .arity = 1, .infer = tg_infer_same_shape,
                              .forward = copy_forward, .backward = copy_backward };

/* Each row breaks one field of `good`. */
typedef struct {
    const char *row;
    void (*spoil)(tg_rule *r);
    tg_status want;
    const char *reason;   /* what follows "<function>: " in both messages */
} malformed;

static void no_name(tg_rule *r) { r->name = NULL; }
static void empty_name(tg_rule *r) { r->name = ""; }
static void no_infer(tg_rule *r) { r->infer = NULL; }
static void no_forward(tg_rule *r) { r->forward = NULL; }
static void no_backward(tg_rule *r) { r->backward = NULL; }
static void arity_0(tg_rule *r) { r->arity = 0; }
static void arity_5(tg_rule *r) { r->arity = TG_MAX_ARITY + 1; }
static void params_5(tg_rule *r) { r->n_params = TG_MAX_PARAMS + 1; }
static void unnamed_param(tg_rule *r) { r->n_params = 2, r->param_names[0] = "a"; }

static const malformed rows[] = {
    { "no name", no_name, TG_ERR_NULL, "rule has no name" },
    { "empty name", empty_name, TG_ERR_NULL, "rule has no name" },
    { "no infer", no_infer, TG_ERR_NULL,
      "check_copy: infer, forward and backward are required" },
    { "no forward", no_forward, TG_ERR_NULL,
      "check_copy: infer, forward and backward are required" },
    { "no backward", no_backward, TG_ERR_NULL,
      "check_copy: infer, forward and backward are required" },
    { "arity 0", arity_0, TG_ERR_ARITY, "check_copy: arity 0 is outside 1..4" },
    { "arity 5", arity_5, TG_ERR_ARITY, "check_copy: arity 5 is outside 1..4" },
    { "5 parameters", params_5, TG_ERR_ARITY, "check_copy: 5 parameters, at most 4" },
    { "unnamed parameter", unnamed_param, TG_ERR_NULL, "check_copy: parameter 1 has no name" },
};

/* The message must be "<who>: <reason>" exactly. */
static void expect_message(const char *row, const char *who, const char *reason)
{
    char want[256];
    snprintf(want, sizeof want, "%s: %s", who, reason);
    cr_expect_str_eq(tg_last_error(), want, "%s: %s", row, who);
}

Test(rule_check, register_and_apply_refuse_alike)
{
    static const size_t s3[1] = { 3 };
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, s3);
    tg_tensor *in[TG_MAX_ARITY + 1] = { x, x, x, x, x };
    tg_tape *t = tg_tape_new();
    const size_t count = tg_rule_count();
    cr_assert(x && t);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const malformed *m = &rows[i];
        tg_rule r = good;
        m->spoil(&r);
        cr_expect_eq(tg_rule_register(&r), m->want, "%s: register: %s", m->row,
                     tg_last_error());
        expect_message(m->row, "tg_rule_register", m->reason);
        cr_expect_eq(tg_rule_count(), count, "%s: a refused rule was registered", m->row);
        tg_tape_reset(t);
        /* as many inputs as the rule claims, where that is possible */
        cr_expect_null(tg_apply(t, &r, in, r.arity <= TG_MAX_ARITY + 1 ? r.arity : 1, NULL),
                       "%s: applied", m->row);
        cr_expect_eq(tg_last_status(), m->want, "%s: apply: %s", m->row, tg_last_error());
        expect_message(m->row, "tg_apply", m->reason);
        cr_expect_eq(tg_tape_status(t), m->want, "%s: the tape did not keep the error", m->row);
        cr_expect_str_eq(tg_tape_error(t), tg_last_error(), "%s", m->row);
    }
    /* NULL is refused by both, and the well-formed rule is taken by both */
    cr_expect_eq(tg_rule_register(NULL), TG_ERR_NULL);
    expect_message("NULL", "tg_rule_register", "rule is NULL");
    tg_tape_reset(t);
    cr_expect_null(tg_apply(t, NULL, in, 1, NULL));
    expect_message("NULL", "tg_apply", "rule is NULL");
    tg_tape_reset(t);
    cr_expect_not_null(tg_apply(t, &good, in, 1, NULL), "%s", tg_last_error());
    cr_expect_eq(tg_rule_register(&good), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_rule_count(), count + 1);
    tg_tape_free(t);
    tg_tensor_free(x);
}
