//! im2col and col2im against the f64 reference. Every adapter; tolerances as stated per check: f32
//! sums of k terms in [-1, 1] carry errors of order k·2^-24.

use crate::gpu::testing::{assert_close, gpus};
use crate::rng::Pcg;

#[test]
fn im2col_and_col2im() {
    use crate::kernels::conv::{self, ConvShape, InputLayout};
    for gpu in &gpus() {
        for (n, c, h, w, k, pad, stride) in [
            (2, 3, 5, 7, 3, 1, 1),
            (1, 1, 28, 28, 3, 1, 1),
            (2, 4, 6, 6, 5, 2, 1),
            (1, 2, 4, 4, 3, 0, 1),
            (2, 4, 7, 8, 3, 1, 2),
            (1, 8, 8, 8, 1, 0, 2),
        ] {
            let s = ConvShape {
                n,
                c,
                h,
                w,
                k,
                pad,
                stride,
            };
            let mut rng = Pcg::new((n * c * h * w * k) as u64, 8);
            let x0 = rng.vec(s.input_len(), -1.0, 1.0);
            let x = gpu.upload(&x0, "x").unwrap();
            let cols = gpu.zeros::<f32>(s.rows() * s.cols(), "cols").unwrap();
            for layout in [InputLayout::Nchw, InputLayout::PixelMajor] {
                let d = conv::prepare_im2col(gpu, s, layout, x.view(), cols.view()).unwrap();
                gpu.run(&[&d]).unwrap();
                let want = conv::reference_im2col(s, layout, &x0);
                assert_close(
                    &format!("im2col {s:?} {layout:?}"),
                    &gpu.read(&cols).unwrap(),
                    &want,
                    0.0,
                    0.0,
                );
            }
            let dcols0 = rng.vec(s.rows() * s.cols(), -1.0, 1.0);
            let dcols = gpu.upload(&dcols0, "dcols").unwrap();
            let dx = gpu.zeros::<f32>(s.input_len(), "dx").unwrap();
            let d = conv::prepare_col2im(gpu, s, dcols.view(), dx.view()).unwrap();
            gpu.run(&[&d]).unwrap();
            let want = conv::reference_col2im(s, &dcols0);
            assert_close(
                &format!("col2im {s:?}"),
                &gpu.read(&dx).unwrap(),
                &want,
                1e-6,
                1e-6,
            );
        }
    }
}
