/* NumPy-style broadcasting shared by add, sub, mul and div (see broadcast.h). */
#include "broadcast.h"

/* Dimension i of t's shape aligned from the right into rank r; 1 where t has none. */
static size_t dim_at(const tg_tensor *t, size_t r, size_t i)
{
    const size_t lead = r - t->rank;
    return i < lead ? 1 : t->shape[i - lead];
}

/* The first dimension (counted from the right, 1-based) where a and b do not
 * broadcast, or 0 when they do; writes the broadcast shape. */
static size_t broadcast_dims(const tg_tensor *a, const tg_tensor *b, size_t *rank,
                             size_t shape[TG_MAX_RANK])
{
    const size_t r = a->rank > b->rank ? a->rank : b->rank;
    for (size_t i = 0; i < r; i++) {
        const size_t da = dim_at(a, r, i), db = dim_at(b, r, i);
        if (da != db && da != 1 && db != 1)
            return r - i;
        shape[i] = da == 1 ? db : da;
    }
    *rank = r;
    return 0;
}

tg_status tg__bcast_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    const size_t bad = broadcast_dims(a, b, rank, shape);
    if (bad) {
        const size_t r = a->rank > b->rank ? a->rank : b->rank;
        tg__why(n, "shapes do not broadcast: dimension %zu from the right is %zu against %zu "
                "(each pair must be equal or one of them 1)",
                bad, dim_at(a, r, r - bad), dim_at(b, r, r - bad));
        return TG_ERR_SHAPE;
    }
    return TG_OK;
}

/* Drops the output's size-1 dimensions and merges each dimension into the one before it
 * when both operands continue contiguously across the boundary (or are broadcast over
 * both). What remains: rank >= 1 dimensions, the last one the row. */
static void merge_dims(tg__bcast *p, const size_t *shape, size_t r,
                       size_t stride[2][TG_MAX_RANK])
{
    p->rank = 0;
    for (size_t i = 0; i < r; i++) {
        const size_t m = p->rank;
        if (shape[i] == 1)
            continue;
        if (m > 0 && stride[0][i] * shape[i] == p->stride[0][m - 1] &&
            stride[1][i] * shape[i] == p->stride[1][m - 1]) {
            p->shape[m - 1] *= shape[i];
            p->stride[0][m - 1] = stride[0][i];
            p->stride[1][m - 1] = stride[1][i];
            continue;
        }
        p->shape[m] = shape[i];
        p->stride[0][m] = stride[0][i];
        p->stride[1][m] = stride[1][i];
        p->rank++;
    }
    if (p->rank == 0) {   /* a one-element output: one row of one element */
        p->rank = 1;
        p->shape[0] = 1;
        p->stride[0][0] = p->stride[1][0] = 1;
    }
}

tg__bcast tg__bcast_plan(const tg_tensor *a, const tg_tensor *b, int allow_runs)
{
    const tg_tensor *in[2] = { a, b };
    size_t r = 0, shape[TG_MAX_RANK], stride[2][TG_MAX_RANK];
    tg__bcast p = { 0 };
    broadcast_dims(a, b, &r, shape);
    for (size_t k = 0; k < 2; k++) {   /* row-major strides, 0 where broadcast */
        size_t s = 1;
        for (size_t i = r; i-- > 0;) {
            const size_t d = dim_at(in[k], r, i);
            stride[k][i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    merge_dims(&p, shape, r, stride);
    p.rows = 1;
    for (size_t i = 0; i + 1 < p.rank; i++)
        p.rows *= p.shape[i];
    const size_t last = p.rank - 1;
    if (allow_runs && p.rank <= 2 && p.stride[0][last] == 1 && p.stride[1][last] == 1) {
        p.runs_layout = 1;
        p.len = p.shape[last];
        p.runs = p.rows;
        p.step[0] = p.rank == 2 ? p.stride[0][0] : 0;
        p.step[1] = p.rank == 2 ? p.stride[1][0] : 0;
    }
    return p;
}

void tg__bcast_next_row(const tg__bcast *p, size_t idx[TG_MAX_RANK], size_t off[2])
{
    for (size_t d = p->rank - 1; d-- > 0;) {
        off[0] += p->stride[0][d];
        off[1] += p->stride[1][d];
        if (++idx[d] < p->shape[d])
            return;
        off[0] -= p->stride[0][d] * p->shape[d];
        off[1] -= p->stride[1][d] * p->shape[d];
        idx[d] = 0;
    }
}
