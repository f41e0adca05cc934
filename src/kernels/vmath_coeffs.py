#!/usr/bin/env python3
"""The polynomial coefficients of src/kernels/vmath_core.h and vmath_safe_log.c.

Run with python3 and mpmath (Debian: python3-mpmath); prints each table as C hex
literals with the fit's maximum error. Chebyshev fits (mpmath.chebyfit) are within a
small factor of the minimax error, which is all the kernels need: they use these in
double precision, where the errors below are 2^-43 or less, and round to float32.

  EXP_P     (e^r - 1 - r) / r^2 on |r| <= ln2/2, degree 8 (vmath_core.h: exp, expm1)
  LOG_L     (atanh(s)/s - 1) / z, z = s^2 <= (3 - 2 sqrt2)^2, degree 5 (log)
  ERFCX_R   erfcx(t) as a polynomial in z = (t - 4)/(t + 4), t in [0, 10.5], degree 16
  SAFE_LOG_G  Taylor coefficients d^1..d^9 of softplus(x1 + d) - 1
            = log1p((1 - 1/e) expm1(d)), x1 = log(e - 1) (vmath_safe_log.c)
"""
import mpmath as mp

mp.mp.dps = 60


def show(name, coeffs, note):
    print("/* %s: %s */" % (name, note))
    print("static const double %s[%d] = {" % (name, len(coeffs)))
    for c in coeffs:
        print("    %s," % float(c).hex())
    print("};")


def fit(f, interval, degree):
    """Coefficients lowest degree first, and the maximum error of the fit."""
    c, err = mp.chebyfit(f, interval, degree + 1, error=True)
    return c[::-1], err


def exp_p(r):
    if abs(r) < mp.mpf("1e-20"):
        return mp.mpf(1) / 2 + r / 6
    return (mp.expm1(r) - r) / (r * r)


def log_l(z):
    if z < mp.mpf("1e-30"):
        return mp.mpf(1) / 3 + z / 5
    s = mp.sqrt(z)
    return (mp.atanh(s) / s - 1) / z


def main():
    half_ln2 = mp.log(2) / 2 * mp.mpf("1.0001")  # k = rint(x/ln2) may round either way
    c, err = fit(exp_p, [-half_ln2, half_ln2], 8)
    show("EXP_P", c, "max error %s" % mp.nstr(err, 3))

    zmax = ((mp.sqrt(2) - 1) / (mp.sqrt(2) + 1)) ** 2 * mp.mpf("1.001")
    c, err = fit(log_l, [0, zmax], 5)
    show("LOG_L", c, "max error %s" % mp.nstr(err, 3))

    K, tmax = 4, mp.mpf("10.5")
    erfcx = lambda z: (lambda t: mp.exp(t * t) * mp.erfc(t))(K * (1 + z) / (1 - z))
    c, err = fit(erfcx, [-1, (tmax - K) / (tmax + K)], 16)
    show("ERFCX_R", c, "max error %s (erfcx >= %s on the interval)"
         % (mp.nstr(err, 3), mp.nstr(erfcx((tmax - K) / (tmax + K)), 3)))

    C = 1 - 1 / mp.e
    g = lambda d: mp.log1p(C * mp.expm1(d))
    t = mp.taylor(g, 0, 10)
    show("SAFE_LOG_G", t[1:10], "the next term is %s d^10" % mp.nstr(t[10], 3))


if __name__ == "__main__":
    main()
