// erf(x) in f32, for GELU's exact form (WGSL has no erf). No buffers and no indexing: one
// function of one value, prepended to the shaders that call it.
// It is FreeBSD's s_erff.c (Sun Microsystems 1993, freely redistributable with this notice kept;
// float conversion by Ian Lance Taylor, Cygnus Support), the approximation musl and Rust's libm
// ship as erff, restricted to erf:
//   |x| < 0.84375   erf = x + x*P(x^2)/Q(x^2);
//   |x| < 1.25      erf = erx + P(s)/Q(s), s = |x| - 1, erx = erf(1) rounded to f32;
//   |x| < 6         erf = 1 - exp(-z^2 - 0.5625) * exp((z-|x|)(z+|x|) + R(1/x^2)/S(1/x^2)) / |x|,
//                   z = |x| with its low 13 mantissa bits cleared, so z^2 is exact in f32;
//                   R/S has one form below 1/0.35 and another above;
//   |x| >= 6        erf = 1 (1 - erf < 2.2e-17).
// erf is odd, so the sign of x is applied last. Against f64's erf it stays within 2e-7
// absolute over the whole f32 line on both test adapters (src/kernels/gelu/tests.rs); WGSL
// allows exp an error of 3 + 2|x| ulp, which near |x| = 1.25 costs at most a few 1e-8 here.

fn erf_f32(x: f32) -> f32 {
    let a = abs(x);
    var y: f32;
    if a < 0.84375 {
        let z = a * a;
        let r = 1.2837916613e-01 + z * (-3.2504209876e-01 + z * (-2.8481749818e-02
            + z * (-5.7702702470e-03 + z * -2.3763017452e-05)));
        let s = 1.0 + z * (3.9791721106e-01 + z * (6.5022252500e-02 + z * (5.0813062117e-03
            + z * (1.3249473704e-04 + z * -3.9602282413e-06))));
        return x + x * (r / s);
    } else if a < 1.25 {
        let s = a - 1.0;
        let p = -2.3621185683e-03 + s * (4.1485610604e-01 + s * (-3.7220788002e-01
            + s * (3.1834661961e-01 + s * (-1.1089469492e-01 + s * (3.5478305072e-02
            + s * -2.1663755178e-03)))));
        let q = 1.0 + s * (1.0642088205e-01 + s * (5.4039794207e-01 + s * (7.1828655899e-02
            + s * (1.2617121637e-01 + s * (1.3637083583e-02 + s * 1.1984500103e-02)))));
        y = 8.4506291151e-01 + p / q;
    } else if a < 6.0 {
        let s = 1.0 / (a * a);
        var r: f32;
        var big_s: f32;
        if a < 2.857142857 {
            r = -9.8649440333e-03 + s * (-6.9385856390e-01 + s * (-1.0558626175e+01
                + s * (-6.2375331879e+01 + s * (-1.6239666748e+02 + s * (-1.8460508728e+02
                + s * (-8.1287437439e+01 + s * -9.8143291473e+00))))));
            big_s = 1.0 + s * (1.9651271820e+01 + s * (1.3765776062e+02 + s * (4.3456588745e+02
                + s * (6.4538726807e+02 + s * (4.2900814819e+02 + s * (1.0863500214e+02
                + s * (6.5702495575e+00 + s * -6.0424413532e-02)))))));
        } else {
            r = -9.8649431020e-03 + s * (-7.9928326607e-01 + s * (-1.7757955551e+01
                + s * (-1.6063638306e+02 + s * (-6.3756646729e+02 + s * (-1.0250950928e+03
                + s * -4.8351919556e+02)))));
            big_s = 1.0 + s * (3.0338060379e+01 + s * (3.2579251099e+02 + s * (1.5367296143e+03
                + s * (3.1998581543e+03 + s * (2.5530502930e+03 + s * (4.7452853394e+02
                + s * -2.2440952301e+01))))));
        }
        let z = bitcast<f32>(bitcast<u32>(a) & 0xffffe000u);
        y = 1.0 - exp(-z * z - 0.5625) * exp((z - a) * (z + a) + r / big_s) / a;
    } else {
        y = 1.0;
    }
    return select(y, -y, x < 0.0);
}
