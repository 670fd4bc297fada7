//! Resampling a grid of values to another size as PyTorch's `F.interpolate` does with
//! `align_corners=False`: bicubic with antialiasing (what timm's `resample_abs_pos_embed`
//! uses for a ViT's position embeddings) and plain bilinear (`--image-size`). Both are
//! separable: each output index takes a weighted sum of input indices along one axis, rows
//! first, then columns, in f64.

/// The input indices and weights of each output index when resizing an axis of `input` values
/// to `output`: PyTorch's `compute_indices_weights_aa` with `filter` of half-width `support`
/// (in input pixels at scale 1), widened by the scale when shrinking (antialiasing) or not.
fn taps(input: usize, output: usize, antialias: bool, kernel: Kernel) -> Vec<(usize, Vec<f64>)> {
    let scale = input as f64 / output as f64;
    let widen = if antialias && scale >= 1.0 {
        scale
    } else {
        1.0
    };
    let support = kernel.support() * widen;
    (0..output)
        .map(|i| {
            let center = scale * (i as f64 + 0.5);
            if !antialias {
                return kernel.plain(input, center - 0.5);
            }
            // PyTorch truncates toward zero here, then clamps to the axis.
            let lo = ((center - support + 0.5) as i64).max(0) as usize;
            let hi = ((center + support + 0.5) as i64).min(input as i64) as usize;
            let mut w: Vec<f64> = (lo..hi)
                .map(|j| kernel.weight((j as f64 - center + 0.5) / widen))
                .collect();
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                w.iter_mut().for_each(|v| *v /= total);
            }
            (lo, w)
        })
        .collect()
}

/// The interpolation kernels.
#[derive(Clone, Copy)]
enum Kernel {
    /// Keys' cubic with a = −0.5 (PyTorch's antialiased bicubic, and PIL's).
    Cubic,
    /// The triangle.
    Linear,
}

impl Kernel {
    fn support(self) -> f64 {
        match self {
            Kernel::Cubic => 2.0,
            Kernel::Linear => 1.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Kernel::Cubic => {
                let a = -0.5;
                if x < 1.0 {
                    ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * a
                } else {
                    0.0
                }
            }
            Kernel::Linear => (1.0 - x).max(0.0),
        }
    }

    /// Without antialiasing (bilinear only): the two neighbours of source coordinate `src`
    /// (clamped at 0 below, as `area_pixel_compute_source_index`), the upper one clamped to
    /// the axis.
    fn plain(self, input: usize, src: f64) -> (usize, Vec<f64>) {
        let src = src.max(0.0);
        let lo = (src.floor() as usize).min(input - 1);
        let frac = src - lo as f64;
        if lo + 1 < input {
            (lo, vec![1.0 - frac, frac])
        } else {
            (lo, vec![1.0])
        }
    }
}

/// `grid`, `channels` planes of `from.0 × from.1` values (row-major), resized to `to`.
fn resize(
    grid: &[f64],
    channels: usize,
    from: (usize, usize),
    to: (usize, usize),
    (kernel, antialias): (Kernel, bool),
) -> Vec<f64> {
    let rows = taps(from.0, to.0, antialias, kernel);
    let cols = taps(from.1, to.1, antialias, kernel);
    let mut out = Vec::with_capacity(channels * to.0 * to.1);
    for plane in grid.chunks(from.0 * from.1).take(channels) {
        // Along each row first (width), then down each column (height).
        let wide: Vec<f64> = plane
            .chunks(from.1)
            .flat_map(|row| {
                cols.iter()
                    .map(|(lo, w)| w.iter().enumerate().map(|(k, w)| w * row[lo + k]).sum())
                    .collect::<Vec<f64>>()
            })
            .collect();
        for (lo, w) in &rows {
            for x in 0..to.1 {
                out.push(
                    w.iter()
                        .enumerate()
                        .map(|(k, w)| w * wide[(lo + k) * to.1 + x])
                        .sum(),
                );
            }
        }
    }
    out
}

/// `F.interpolate(grid, size=to, mode="bicubic", align_corners=False, antialias=True)` on
/// `channels` planes of `from` values.
pub fn bicubic_antialiased(
    grid: &[f64],
    channels: usize,
    from: (usize, usize),
    to: (usize, usize),
) -> Vec<f64> {
    resize(grid, channels, from, to, (Kernel::Cubic, true))
}

/// `F.interpolate(grid, size=to, mode="bilinear", align_corners=False, antialias=False)` on
/// `channels` planes of `from` values.
pub fn bilinear(
    grid: &[f64],
    channels: usize,
    from: (usize, usize),
    to: (usize, usize),
) -> Vec<f64> {
    resize(grid, channels, from, to, (Kernel::Linear, false))
}

/// [`bilinear`] on 8-bit images (`channels` planes of `from` pixels, channel-major), each
/// resized value rounded to the nearest level: the images `--image-size` resizes.
pub fn bilinear_u8(
    pixels: &[u8],
    channels: usize,
    from: (usize, usize),
    to: (usize, usize),
) -> Vec<u8> {
    let grid: Vec<f64> = pixels.iter().map(|&p| p as f64).collect();
    let out = bilinear(&grid, channels, from, to);
    out.iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's own results (`scripts/resample-fixtures` wrote them with F.interpolate).
    #[test]
    fn resampling_matches_pytorchs_interpolate() {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/resample.json"
        ));
        let fixture: serde_json::Value = serde_json::from_str(text).unwrap();
        let cases = fixture["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 7);
        for case in cases {
            let n = |v: &serde_json::Value| v.as_u64().unwrap() as usize;
            let c = n(&case["channels"]);
            let from = (n(&case["from"][0]), n(&case["from"][1]));
            let to = (n(&case["to"][0]), n(&case["to"][1]));
            let grid: Vec<f64> = (0..c * from.0 * from.1)
                .map(|i| (0.37 * i as f64).sin() + (0.1 * i as f64) % 3.0)
                .collect();
            let got = match case["mode"].as_str().unwrap() {
                "bicubic" => bicubic_antialiased(&grid, c, from, to),
                _ => bilinear(&grid, c, from, to),
            };
            let want: Vec<f64> = case["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(got.len(), want.len());
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-12, "{case:?}: off by {worst:e}");
        }
    }

    #[test]
    fn the_same_size_is_the_identity_and_constants_stay_constant() {
        let g: Vec<f64> = (0..2 * 5 * 5).map(|i| (i * 37 % 11) as f64).collect();
        assert_eq!(bicubic_antialiased(&g, 2, (5, 5), (5, 5)), g);
        assert_eq!(bilinear(&g, 2, (5, 5), (5, 5)), g);
        let c = vec![3.5; 14 * 14];
        for out in [
            bicubic_antialiased(&c, 1, (14, 14), (2, 2)),
            bilinear(&c, 1, (14, 14), (3, 3)),
        ] {
            assert!(out.iter().all(|v| (v - 3.5).abs() < 1e-12), "{out:?}");
        }
    }

    #[test]
    fn bilinear_takes_the_two_neighbours_of_the_half_pixel_centre() {
        // 2 → 4: sources −0.25 (clamped to 0), 0.25, 0.75, 1.25 (upper neighbour clamped).
        let out = bilinear(&[0.0, 1.0], 1, (1, 2), (1, 4));
        assert_eq!(out, [0.0, 0.25, 0.75, 1.0]);
        // 4 → 2 without antialiasing: sources 0.5 and 2.5, halfway between neighbours.
        let out = bilinear(&[0.0, 1.0, 2.0, 10.0], 1, (1, 4), (1, 2));
        assert_eq!(out, [0.5, 6.0]);
    }

    #[test]
    fn antialiased_bicubic_halving_averages_with_the_widened_cubic() {
        // 4 → 2: scale 2, centres 1 and 3, the cubic stretched to half-width 4 over the taps
        // at offsets −1.5 … 1.5 from the centre (clipped to the axis), weights normalised.
        let w = |x: f64| Kernel::Cubic.weight(x / 2.0);
        let input = [1.0, 2.0, 4.0, 8.0];
        let first = [w(-0.5), w(0.5), w(1.5), w(2.5)];
        let second = [w(-2.5), w(-1.5), w(-0.5), w(0.5)];
        let expect = |ws: [f64; 4]| {
            let s: f64 = ws.iter().sum();
            ws.iter().zip(&input).map(|(w, v)| w * v).sum::<f64>() / s
        };
        let out = bicubic_antialiased(&input, 1, (1, 4), (1, 2));
        assert!((out[0] - expect(first)).abs() < 1e-12, "{out:?}");
        assert!((out[1] - expect(second)).abs() < 1e-12, "{out:?}");
        // The cubic's own values: 1 at 0, 0 at the integers, −0.0625 at 1.5.
        assert_eq!(Kernel::Cubic.weight(0.0), 1.0);
        assert_eq!(Kernel::Cubic.weight(1.0), 0.0);
        assert_eq!(Kernel::Cubic.weight(1.5), -0.0625);
    }
}
