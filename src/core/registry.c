/* The rule registry: the built-ins (a constant table) and the users' rules. The user
 * table is the library's only shared mutable state, so a mutex guards it. */
#include <pthread.h>
#include <string.h>
#include "internal.h"

static const tg_rule *const builtins[] = {
    &tg__rule_relu, &tg__rule_leaky_relu, &tg__rule_elu, &tg__rule_sigmoid, &tg__rule_tanh,
    &tg__rule_gelu, &tg__rule_gelu_erf, &tg__rule_softplus, &tg__rule_silu,
    &tg__rule_safe_log, &tg__rule_smooth_abs, &tg__rule_linear, &tg__rule_add,
    &tg__rule_sub, &tg__rule_mul, &tg__rule_scale, &tg__rule_sum, &tg__rule_mean,
    &tg__rule_matmul, &tg__rule_concat, &tg__rule_mse_loss, &tg__rule_softmax_cross_entropy,
    /* the operations models need */
    &tg__rule_div, &tg__rule_exp, &tg__rule_log, &tg__rule_sqrt, &tg__rule_square,
    &tg__rule_neg, &tg__rule_reshape, &tg__rule_transpose, &tg__rule_sum_axis,
    &tg__rule_mean_axis, &tg__rule_softmax, &tg__rule_log_softmax, &tg__rule_linear_nobias,
};
#define N_BUILTIN (sizeof builtins / sizeof builtins[0])

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const tg_rule *user[TG_MAX_USER_RULES];
static size_t n_user;

static const tg_rule *find_locked(const char *name)
{
    for (size_t i = 0; i < N_BUILTIN; i++)
        if (strcmp(builtins[i]->name, name) == 0)
            return builtins[i];
    for (size_t i = 0; i < n_user; i++)
        if (strcmp(user[i]->name, name) == 0)
            return user[i];
    return NULL;
}

/* The one validation of a rule's fields, for tg_rule_register (once) and tg_apply (every
 * application, registered rule or not), so that a malformed rule is refused before any
 * of its fields is used. On the hot path: a handful of comparisons when the rule is
 * well formed; only a refusal formats a message. */
tg_status tg__check_rule(const tg_rule *r, const char *who)
{
    if (!r)
        return tg__fail(TG_ERR_NULL, "%s: rule is NULL", who);
    if (!r->name || !r->name[0])
        return tg__fail(TG_ERR_NULL, "%s: rule has no name", who);
    if (!r->infer || !r->forward || !r->backward)
        return tg__fail(TG_ERR_NULL, "%s: %s: infer, forward and backward are required", who,
                        r->name);
    if (r->arity < 1 || r->arity > TG_MAX_ARITY)
        return tg__fail(TG_ERR_ARITY, "%s: %s: arity %zu is outside 1..%d", who, r->name,
                        r->arity, TG_MAX_ARITY);
    if (r->n_params > TG_MAX_PARAMS)
        return tg__fail(TG_ERR_ARITY, "%s: %s: %zu parameters, at most %d", who, r->name,
                        r->n_params, TG_MAX_PARAMS);
    for (size_t i = 0; i < r->n_params; i++)
        if (!r->param_names[i])
            return tg__fail(TG_ERR_NULL, "%s: %s: parameter %zu has no name", who, r->name, i);
    return TG_OK;
}

tg_status tg_rule_register(const tg_rule *rule)
{
    tg_status s = tg__check_rule(rule, "tg_rule_register");
    if (s != TG_OK)
        return s;
    pthread_mutex_lock(&lock);
    if (find_locked(rule->name))
        s = tg__fail(TG_ERR_EXISTS, "tg_rule_register: a rule named \"%s\" exists",
                     rule->name);
    else if (n_user == TG_MAX_USER_RULES)
        s = tg__fail(TG_ERR_FULL, "tg_rule_register: %s: the registry holds %d user rules",
                     rule->name, TG_MAX_USER_RULES);
    else
        user[n_user++] = rule;
    pthread_mutex_unlock(&lock);
    return s;
}

const tg_rule *tg_rule_find(const char *name)
{
    const tg_rule *r;
    if (!name) {
        tg__fail(TG_ERR_NULL, "tg_rule_find: name is NULL");
        return NULL;
    }
    pthread_mutex_lock(&lock);
    r = find_locked(name);
    pthread_mutex_unlock(&lock);
    if (!r)
        tg__fail(TG_ERR_NOT_FOUND, "tg_rule_find: no rule named \"%s\"", name);
    return r;
}

size_t tg_rule_count(void)
{
    size_t n;
    pthread_mutex_lock(&lock);
    n = N_BUILTIN + n_user;
    pthread_mutex_unlock(&lock);
    return n;
}

const tg_rule *tg_rule_at(size_t i)
{
    const tg_rule *r = NULL;
    size_t count;
    pthread_mutex_lock(&lock);
    if (i < N_BUILTIN)
        r = builtins[i];
    else if (i - N_BUILTIN < n_user)
        r = user[i - N_BUILTIN];
    count = N_BUILTIN + n_user;
    pthread_mutex_unlock(&lock);
    if (!r)
        tg__fail(TG_ERR_NOT_FOUND, "tg_rule_at: index %zu is out of range (%zu rules)", i,
                 count);
    return r;
}
