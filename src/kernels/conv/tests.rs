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

#[test]
fn images_take_at_least_two_layers_with_little_padding() {
    use super::image::rows_per_layer;
    // (rows, side limit) -> rows per layer: 8192 rows (ResNet-20's first stage at batch
    // 128) in two exact layers, not one 8192-row layer plus the padding layer.
    for (rows, limit, want) in [(8192, 16384, 4096), (5000, 16384, 2048), (1, 16384, 1)] {
        assert_eq!(rows_per_layer(rows, limit), want, "{rows} rows");
    }
    assert_eq!(rows_per_layer(1 << 20, 16384), 16384);
    for rows in 1..3000 {
        let per = rows_per_layer(rows, 1024);
        let layers = rows.div_ceil(per);
        assert!(per.is_power_of_two() && per <= 1024);
        assert!(rows < 2 || layers >= 2, "{rows} rows in one layer");
        // Padding stays under half the rows once more than one layer is used.
        assert!(
            2 * (layers * per - rows) <= rows.max(2),
            "{rows} rows: {per}×{layers}"
        );
    }
}
