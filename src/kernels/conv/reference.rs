//! f64 references of a strided convolution on pixel-major tensors (`[n·h·w, c]`), written as
//! the defining sums, for the implicit-GEMM kernels' tests: the forward pass, the data
//! gradient and the weight and bias gradients. Weights are PyTorch's `[cout, cin, k, k]`.

use super::implicit::Conv;

/// Calls `f(out_pixel, in_pixel, ky, kx)` for every tap of every output pixel that lands
/// inside the input.
fn taps(g: &Conv, mut f: impl FnMut(usize, usize, usize, usize)) {
    let (ho, wo) = g.out_hw();
    for n in 0..g.n {
        for oy in 0..ho {
            for ox in 0..wo {
                let out = (n * ho + oy) * wo + ox;
                for ky in 0..g.k {
                    for kx in 0..g.k {
                        let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                        let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                        if (0..g.h as isize).contains(&iy) && (0..g.w as isize).contains(&ix) {
                            let inp = (n * g.h + iy as usize) * g.w + ix as usize;
                            f(out, inp, ky, kx);
                        }
                    }
                }
            }
        }
    }
}

fn w_at(g: &Conv, o: usize, c: usize, ky: usize, kx: usize) -> usize {
    ((o * g.cin + c) * g.k + ky) * g.k + kx
}

/// y = conv(x) + bias.
pub fn forward<T: Copy + Into<f64>>(g: &Conv, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<f64> {
    let mut y = vec![0.0f64; g.out_pixels() * g.cout];
    taps(g, |out, inp, ky, kx| {
        for o in 0..g.cout {
            for c in 0..g.cin {
                y[out * g.cout + o] += x[inp * g.cin + c].into() * w[w_at(g, o, c, ky, kx)].into();
            }
        }
    });
    if let Some(b) = bias {
        for (i, v) in y.iter_mut().enumerate() {
            *v += b[i % g.cout].into();
        }
    }
    y
}

/// dx from dy (the adjoint of the forward pass in x).
pub fn data_grad<T: Copy + Into<f64>>(g: &Conv, dy: &[T], w: &[T]) -> Vec<f64> {
    let mut dx = vec![0.0f64; g.n * g.h * g.w * g.cin];
    taps(g, |out, inp, ky, kx| {
        for o in 0..g.cout {
            for c in 0..g.cin {
                dx[inp * g.cin + c] +=
                    dy[out * g.cout + o].into() * w[w_at(g, o, c, ky, kx)].into();
            }
        }
    });
    dx
}

/// (dW, db) from x and dy.
pub fn weight_grad<T: Copy + Into<f64>>(g: &Conv, x: &[T], dy: &[T]) -> (Vec<f64>, Vec<f64>) {
    let mut dw = vec![0.0f64; g.weight_len()];
    taps(g, |out, inp, ky, kx| {
        for o in 0..g.cout {
            for c in 0..g.cin {
                dw[w_at(g, o, c, ky, kx)] +=
                    dy[out * g.cout + o].into() * x[inp * g.cin + c].into();
            }
        }
    });
    let mut db = vec![0.0f64; g.cout];
    for (i, v) in dy.iter().enumerate() {
        db[i % g.cout] += (*v).into();
    }
    (dw, db)
}

/// An NCHW batch in pixel-major order.
pub fn nchw_to_pixels<T: Copy>(g: &Conv, x: &[T]) -> Vec<T> {
    let plane = g.h * g.w;
    let mut out = Vec::with_capacity(x.len());
    for n in 0..g.n {
        for p in 0..plane {
            for c in 0..g.cin {
                out.push(x[(n * g.cin + c) * plane + p]);
            }
        }
    }
    out
}
