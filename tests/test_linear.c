/* The linear layer y = x W^T + b: the tape's float32 gradients against the standalone
 * double gradients of local.h, and those against the derivatives of the map itself.
 *
 * Tolerances. A float32 dot product or sum of K terms computed in any order is within
 * gamma_K * sum|terms| of the exact value, gamma_K = K u / (1 - K u), u = 2^-24
 * (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 3.5). The
 * inputs are float32 values, exact in double, so the double reference differs from
 * the exact value by at most gamma_K with u = 2^-53, which the bounds below add. The
 * tape adds its K terms onto an earlier gradient: K + 1 terms in all. */
#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <tapegrad.h>
#include "testutil.h"

/* Bound on |float32 result - double reference| for K terms of absolute sum `mag`. */
static double tol_f32(size_t K, double mag)
{
    return (tu_gamma(K, 0x1p-24) + tu_gamma(K, 0x1p-53)) * mag;
}

static tg_tensor *random_tensor(tg_kind kind, size_t rank, const size_t *shape, tg_pcg32 *rng)
{
    tg_tensor *t = tu_random(kind, rank, shape, rng, -1.0f, 1.0f);
    cr_assert_not_null(t, "tg_tensor_new: %s", tg_last_error());
    return t;
}

/* Batch, in, out: B = 1, square and non-square, and enough terms that the float32
 * accumulation error is visible. */
typedef struct { size_t B, in, out; } dims;
static const dims shapes[] = {
    { 1, 1, 1 }, { 1, 5, 3 }, { 4, 3, 7 }, { 7, 16, 2 }, { 3, 6, 6 }, { 32, 9, 33 },
    { 128, 64, 10 },
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])
#define MAX_IN 64
#define MAX_OUT 33
#define MAX_W (MAX_IN * MAX_OUT)

/* One layer on a tape after tg_backward with a random cotangent D [B,out]; gx0, gW0,
 * gb0 hold the gradients x, W, b had before. */
typedef struct {
    tg_tape *tape;
    tg_tensor *x, *W, *b, *D, *y;
    tg_tensor *gx0, *gW0, *gb0;
} layer;

static layer run_layer(dims d, uint64_t seed)
{
    tg_pcg32 rng;
    layer L;
    tg_pcg32_seed(&rng, seed, 7);
    L.x = random_tensor(TG_PARAM, 2, (size_t[]){ d.B, d.in }, &rng);
    L.W = random_tensor(TG_PARAM, 2, (size_t[]){ d.out, d.in }, &rng);
    L.b = random_tensor(TG_PARAM, 1, (size_t[]){ d.out }, &rng);
    L.D = random_tensor(TG_CONST, 2, (size_t[]){ d.B, d.out }, &rng);
    L.gx0 = tu_earlier_grad(L.x, &rng);
    L.gW0 = tu_earlier_grad(L.W, &rng);
    L.gb0 = tu_earlier_grad(L.b, &rng);
    L.tape = tg_tape_new();
    cr_assert_not_null(L.tape);
    L.y = tg_linear(L.tape, L.x, L.W, L.b);
    cr_assert_not_null(L.y, "tg_linear: %s", tg_last_error());
    cr_assert_eq(tg_backward(L.tape, L.y, L.D), TG_OK, "tg_backward: %s", tg_last_error());
    return L;
}

static void free_layer(layer *L)
{
    tg_tape_free(L->tape);
    tg_tensor *all[] = { L->x, L->W, L->b, L->D, L->gx0, L->gW0, L->gb0 };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_tensor_free(all[i]);
}

/* Row r of a float tensor, widened to double. */
static void row_f64(const float *src, size_t r, size_t n, double *dst)
{
    for (size_t j = 0; j < n; j++)
        dst[j] = src[r * n + j];
}

static void check(const char *what, dims d, size_t i, double got, double want, double tol)
{
    cr_assert(fabs(got - want) <= tol,
              "%s [B=%zu in=%zu out=%zu] element %zu: got %.17g, want %.17g, |diff| %.3g > %.3g",
              what, d.B, d.in, d.out, i, got, want, fabs(got - want), tol);
}

Test(linear, linear_weight_gradient_correct)
{
    for (size_t s = 0; s < N_SHAPES; s++) {
        const dims d = shapes[s];
        layer L = run_layer(d, 100 + s);
        double ref[MAX_W] = { 0 }, mag[MAX_W] = { 0 }, one[MAX_W];
        double dr[MAX_OUT], xr[MAX_IN], adr[MAX_OUT], axr[MAX_IN];
        /* dW = sum over the batch of the per-row local gradient d x^T; the same sum of
         * |d| |x|^T gives the magnitude of the B terms of each element */
        for (size_t r = 0; r < d.B; r++) {
            row_f64(L.D->data, r, d.out, dr);
            row_f64(L.x->data, r, d.in, xr);
            tg_local_linear_grad_weight(d.out, d.in, dr, xr, one);
            for (size_t k = 0; k < d.out * d.in; k++)
                ref[k] += one[k];
            for (size_t i = 0; i < d.out; i++)
                adr[i] = fabs(dr[i]);
            for (size_t j = 0; j < d.in; j++)
                axr[j] = fabs(xr[j]);
            tg_local_linear_grad_weight(d.out, d.in, adr, axr, one);
            for (size_t k = 0; k < d.out * d.in; k++)
                mag[k] += one[k];
        }
        /* the tape adds B terms onto the earlier gradient: B + 1 terms in all */
        for (size_t k = 0; k < d.out * d.in; k++) {
            const double g0 = L.gW0->data[k];
            check("dW", d, k, L.W->grad[k], g0 + ref[k], tol_f32(d.B + 1, fabs(g0) + mag[k]));
        }
        free_layer(&L);
    }
}

Test(linear, linear_input_gradient_correct)
{
    for (size_t s = 0; s < N_SHAPES; s++) {
        const dims d = shapes[s];
        layer L = run_layer(d, 200 + s);
        double W[MAX_W], aW[MAX_W], dr[MAX_OUT], adr[MAX_OUT], dx[MAX_IN], mag[MAX_IN];
        row_f64(L.W->data, 0, d.out * d.in, W);
        for (size_t k = 0; k < d.out * d.in; k++)
            aW[k] = fabs(W[k]);
        /* each element of dx is a dot product of `out` terms d[i] W[i][j], added onto
         * the earlier gradient */
        for (size_t r = 0; r < d.B; r++) {
            row_f64(L.D->data, r, d.out, dr);
            for (size_t i = 0; i < d.out; i++)
                adr[i] = fabs(dr[i]);
            tg_local_linear_grad_input(d.out, d.in, W, dr, dx);
            tg_local_linear_grad_input(d.out, d.in, aW, adr, mag);
            for (size_t j = 0; j < d.in; j++) {
                const size_t k = r * d.in + j;
                const double g0 = L.gx0->data[k];
                check("dx", d, k, L.x->grad[k], g0 + dx[j], tol_f32(d.out + 1, fabs(g0) + mag[j]));
            }
        }
        free_layer(&L);
    }
}

Test(linear, linear_bias_gradient_correct)
{
    for (size_t s = 0; s < N_SHAPES; s++) {
        const dims d = shapes[s];
        layer L = run_layer(d, 300 + s);
        double db[MAX_OUT] = { 0 }, mag[MAX_OUT] = { 0 }, dr[MAX_OUT], one[MAX_OUT];
        /* db sums the per-row local gradient (= d) over the B rows, onto the earlier
         * gradient */
        for (size_t r = 0; r < d.B; r++) {
            row_f64(L.D->data, r, d.out, dr);
            tg_local_linear_grad_bias(d.out, dr, one);
            for (size_t i = 0; i < d.out; i++) {
                db[i] += one[i];
                mag[i] += fabs(one[i]);
            }
        }
        for (size_t i = 0; i < d.out; i++) {
            const double g0 = L.gb0->data[i];
            check("db", d, i, L.b->grad[i], g0 + db[i], tol_f32(d.B + 1, fabs(g0) + mag[i]));
        }
        free_layer(&L);
    }
}

/* Guard cells around each local result: a function that writes its result's shape
 * exactly replaces every NaN inside and leaves every guard as it was. */
#define GUARD 8
typedef double guarded[GUARD + MAX_W + GUARD];
static const double sentinel = -12345.0;

/* Sentinels around n NaNs; returns the first of the n. */
static double *guard(guarded buf, size_t n)
{
    for (size_t i = 0; i < GUARD + n + GUARD; i++)
        buf[i] = i < GUARD || i >= GUARD + n ? sentinel : NAN;
    return buf + GUARD;
}

static void check_written(const char *what, const double *p, size_t n)
{
    for (size_t i = 1; i <= GUARD; i++)
        cr_assert_eq(p[-(ptrdiff_t)i], sentinel, "%s wrote before its start", what);
    for (size_t i = 0; i < GUARD; i++)
        cr_assert_eq(p[n + i], sentinel, "%s wrote past its %zu elements", what, n);
    for (size_t i = 0; i < n; i++)
        cr_assert(!isnan(p[i]), "%s left element %zu of %zu unwritten", what, i, n);
}

/* local: dW is [out,in] like W, dx [in] like x, db [out] like b */
static void local_shapes(dims d, tg_pcg32 *rng)
{
    double W[MAX_W], x[MAX_IN], dv[MAX_OUT];
    guarded bW, bx, bb;
    double *dW = guard(bW, d.out * d.in), *dx = guard(bx, d.in), *db = guard(bb, d.out);
    for (size_t k = 0; k < d.out * d.in; k++)
        W[k] = tu_draw(rng);
    for (size_t j = 0; j < d.in; j++)
        x[j] = tu_draw(rng);
    for (size_t i = 0; i < d.out; i++)
        dv[i] = tu_draw(rng);
    tg_local_linear_grad_weight(d.out, d.in, dv, x, dW);
    tg_local_linear_grad_input(d.out, d.in, W, dv, dx);
    tg_local_linear_grad_bias(d.out, dv, db);
    check_written("tg_local_linear_grad_weight", dW, d.out * d.in);
    check_written("tg_local_linear_grad_input", dx, d.in);
    check_written("tg_local_linear_grad_bias", db, d.out);
}

/* tape: y is [B,out] for x [B,in] and [out] for x [in]; a seed must have y's shape;
 * with x [in] an intermediate, its [in] gradient reaches the parameter it came from,
 * and W and b get their [out,in] and [out] gradients laid out as W and b. */
static void tape_shapes(dims d, tg_pcg32 *rng, uint64_t seed)
{
    layer L = run_layer(d, seed);
    cr_assert(L.y->rank == 2 && L.y->shape[0] == d.B && L.y->shape[1] == d.out);
    tg_tensor *x1 = random_tensor(TG_PARAM, 1, (size_t[]){ d.in }, rng);
    tg_tensor *dy = random_tensor(TG_CONST, 1, (size_t[]){ d.out }, rng);
    tg_tensor *wrong = tg_tensor_new(TG_CONST, 2, (size_t[]){ 1, d.out });
    tg_tape *t = tg_tape_new();
    cr_assert(wrong && t);
    tg_zero_grad(L.W);
    tg_zero_grad(L.b);
    tg_tensor *y = tg_linear(t, tg_scale(t, x1, 1.0f), L.W, L.b);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert(y->rank == 1 && y->shape[0] == d.out, "x [in] must give y [out]");
    cr_assert_eq(tg_backward(t, y, wrong), TG_ERR_SHAPE, "a [1,out] seed must be refused");
    tg_tape_reset(t);
    y = tg_linear(t, tg_scale(t, x1, 1.0f), L.W, L.b);
    cr_assert_eq(tg_backward(t, y, dy), TG_OK, "%s", tg_last_error());
    double dv[MAX_OUT], xv[MAX_IN], W[MAX_W], g[MAX_W];
    row_f64(dy->data, 0, d.out, dv);
    row_f64(x1->data, 0, d.in, xv);
    row_f64(L.W->data, 0, d.out * d.in, W);
    /* one row: each dW element is one product, rounded once; db is d itself */
    tg_local_linear_grad_weight(d.out, d.in, dv, xv, g);
    for (size_t k = 0; k < d.out * d.in; k++)
        check("dW (x [in])", d, k, L.W->grad[k], g[k], tol_f32(1, fabs(g[k])));
    tg_local_linear_grad_bias(d.out, dv, g);
    for (size_t i = 0; i < d.out; i++)
        check("db (x [in])", d, i, L.b->grad[i], g[i], 0.0);
    tg_local_linear_grad_input(d.out, d.in, W, dv, g);
    for (size_t j = 0; j < d.in; j++) {
        double mag = 0.0;
        for (size_t i = 0; i < d.out; i++)
            mag += fabs(dv[i] * W[i * d.in + j]);
        check("dx (x [in])", d, j, x1->grad[j], g[j], tol_f32(d.out, mag));
    }
    tg_tape_free(t);
    tg_tensor_free(x1);
    tg_tensor_free(dy);
    tg_tensor_free(wrong);
    free_layer(&L);
}

Test(linear, linear_gradients_preserve_shapes)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 400, 7);
    for (size_t s = 0; s < N_SHAPES; s++) {
        local_shapes(shapes[s], &rng);
        tape_shapes(shapes[s], &rng, 500 + s);
    }
}

/* L(W, x, b) = <d, W x + b> in double, and the sum of the absolute values of its
 * terms (the scale of its rounding error). */
static double objective(dims n, const double *W, const double *x, const double *b,
                        const double *d, double *mag)
{
    double L = 0.0, m = 0.0;
    for (size_t i = 0; i < n.out; i++) {
        double yi = b[i], ai = fabs(b[i]);
        for (size_t j = 0; j < n.in; j++) {
            yi += W[i * n.in + j] * x[j];
            ai += fabs(W[i * n.in + j] * x[j]);
        }
        L += d[i] * yi;
        m += fabs(d[i]) * ai;
    }
    *mag = m;
    return L;
}

/* Central difference of L in *v. L is linear in every argument, so the difference is
 * exact but for rounding: the step h = 1/2 moves a float32 value exactly in double,
 * and each L is within gamma_{in+2} * mag of its exact value (u = 2^-53), so the
 * slope is within (err+ + err-) / (2h) of the derivative. */
static double slope(dims n, double *W, double *x, double *b, const double *d, double *v,
                    double *tol)
{
    const double h = 0.5, v0 = *v;
    double mp, mm;
    *v = v0 + h;
    const double Lp = objective(n, W, x, b, d, &mp);
    *v = v0 - h;
    const double Lm = objective(n, W, x, b, d, &mm);
    *v = v0;
    *tol = tu_gamma(n.in + 2, 0x1p-53) * (mp + mm) / (2.0 * h);
    return (Lp - Lm) / (2.0 * h);
}

/* dW = d x^T exactly (the same products, one rounding each), hence rank one: every
 * 2x2 minor dW[i][j] dW[k][l] - dW[i][l] dW[k][j] vanishes up to the rounding of the
 * four stored entries and the two products (3 u relative each). */
static void check_rank_one(dims n, const double *dW, const double *d, const double *x)
{
    for (size_t i = 0; i < n.out; i++)
        for (size_t j = 0; j < n.in; j++)
            cr_assert_eq(dW[i * n.in + j], d[i] * x[j], "dW[%zu][%zu] != d[i] x[j]", i, j);
    for (size_t i = 0; i + 1 < n.out; i++)
        for (size_t j = 0; j + 1 < n.in; j++) {
            const double p = dW[i * n.in + j] * dW[(i + 1) * n.in + j + 1];
            const double q = dW[i * n.in + j + 1] * dW[(i + 1) * n.in + j];
            cr_assert(fabs(p - q) <= 3 * 0x1p-53 * (fabs(p) + fabs(q)),
                      "minor at (%zu,%zu) is %.3g: dW is not rank one", i, j, p - q);
        }
}

/* <dx, v> = <W^T d, v> = <d, W v>: both sides sum the out*in terms d[i] W[i][j] v[j]
 * in different groupings, each within gamma_{in+out+1} * sum|terms| (u = 2^-53). */
static void check_adjoint(dims n, const double *dx, const double *W, const double *d,
                          const double *v)
{
    double lhs = 0.0, rhs = 0.0, mag = 0.0;
    for (size_t j = 0; j < n.in; j++)
        lhs += dx[j] * v[j];
    for (size_t i = 0; i < n.out; i++) {
        double Wv = 0.0;
        for (size_t j = 0; j < n.in; j++) {
            Wv += W[i * n.in + j] * v[j];
            mag += fabs(d[i] * W[i * n.in + j] * v[j]);
        }
        rhs += d[i] * Wv;
    }
    cr_assert(fabs(lhs - rhs) <= 2 * tu_gamma(n.in + n.out + 1, 0x1p-53) * mag,
              "<dx, v> = %.17g but <d, W v> = %.17g (in=%zu out=%zu)", lhs, rhs, n.in, n.out);
}

Test(linear, linear_gradients_mathematical_correctness)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 600, 7);
    for (size_t s = 0; s < N_SHAPES; s++) {
        const dims n = shapes[s];
        double W[MAX_W], x[MAX_IN], b[MAX_OUT], d[MAX_OUT], v[MAX_IN];
        double dW[MAX_W], dx[MAX_IN], db[MAX_OUT], tol;
        for (size_t k = 0; k < n.out * n.in; k++)
            W[k] = tu_draw(&rng);
        for (size_t j = 0; j < n.in; j++) {
            x[j] = tu_draw(&rng);
            v[j] = tu_draw(&rng);
        }
        for (size_t i = 0; i < n.out; i++) {
            b[i] = tu_draw(&rng);
            d[i] = tu_draw(&rng);
        }
        tg_local_linear_grad_weight(n.out, n.in, d, x, dW);
        tg_local_linear_grad_input(n.out, n.in, W, d, dx);
        tg_local_linear_grad_bias(n.out, d, db);
        /* the local results carry their own rounding: one product for dW, a sum of
         * `out` products for dx, none for db */
        for (size_t k = 0; k < n.out * n.in; k++) {
            const double num = slope(n, W, x, b, d, &W[k], &tol);
            check("dW vs dL/dW", n, k, dW[k], num, tol + 0x1p-53 * fabs(dW[k]));
        }
        for (size_t j = 0; j < n.in; j++) {
            double mag = 0.0;
            for (size_t i = 0; i < n.out; i++)
                mag += fabs(d[i] * W[i * n.in + j]);
            const double num = slope(n, W, x, b, d, &x[j], &tol);
            check("dx vs dL/dx", n, j, dx[j], num, tol + tu_gamma(n.out, 0x1p-53) * mag);
        }
        for (size_t i = 0; i < n.out; i++) {
            const double num = slope(n, W, x, b, d, &b[i], &tol);
            check("db vs dL/db", n, i, db[i], num, tol);
        }
        check_rank_one(n, dW, d, x);
        check_adjoint(n, dx, W, d, v);
    }
}
