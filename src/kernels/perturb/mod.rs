//! y = x + ρ·d/(‖d‖ + eps) with ‖d‖² read from the device, and the USAM (no division) and
//! ASAM (y = x + ρ·x²⊙d/(‖|x|⊙d‖ + eps)) forms (`prelude.wgsl` with `perturb.wgsl`, the
//! storage form, or `perturb_tex.wgsl`, the texture form).

use super::choice::VectorForm;
use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::norm;
use super::textures::texture_copies;
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

const STORAGE_SRC: &str = concat!(
    crate::wgsl!("kernels/perturb/prelude.wgsl"),
    crate::wgsl!("kernels/perturb/perturb.wgsl")
);
const TEXTURE_SRC: &str = concat!(
    crate::wgsl!("kernels/perturb/prelude.wgsl"),
    crate::wgsl!("kernels/perturb/perturb_tex.wgsl")
);

/// The divisor guard added to every norm, as in `docs/src/design/algorithms.md`.
pub const EPS: f32 = 1e-12;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PerturbParams {
    n: u32,
    off_x: u32,
    off_d: u32,
    off_norm: u32,
    rho: f32,
    eps: f32,
    normalized: u32,
    adaptive: u32,
}

/// The uniform layouts of both forms, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    [STORAGE_SRC, TEXTURE_SRC]
        .map(|src| {
            uniform_layout!(
                "perturb",
                src,
                "Params",
                PerturbParams {
                    n,
                    off_x,
                    off_d,
                    off_norm,
                    rho,
                    eps,
                    normalized,
                    adaptive,
                }
            )
        })
        .into()
}

/// Which perturbation: radius and form.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Perturbation {
    /// Radius ρ.
    pub rho: f32,
    /// Divide by the norm (SAM); else y = x + ρ·d (USAM).
    pub normalized: bool,
    /// ASAM: scale the direction by x² and measure it as |x|⊙d.
    pub adaptive: bool,
}

/// Prepare y = x + ρ·d/(√nsq + eps), nsq being element `norm_sq.offset` of its buffer
/// (or y = x + ρ·d when not `normalized`; d is replaced by x²⊙d when `adaptive`). `y` must be
/// a whole buffer of its own.
pub fn prepare(
    gpu: &Gpu,
    form: VectorForm,
    how: Perturbation,
    x: View<'_>,
    d: View<'_>,
    norm_sq: View<'_>,
    y: View<'_>,
) -> Result<Dispatch> {
    prepare_inner(gpu, (form, how), (x, d, y), norm_sq, false)
}

/// SAM's whole perturbation: the squared norm of d (of |x|⊙d when `adaptive`) into
/// `norm_sq`, then [`prepare`]. When the vectors are read through texture copies the norm reads the same
/// copy of d, so d is copied once.
pub fn prepare_with_norm(
    gpu: &Gpu,
    form: VectorForm,
    how: Perturbation,
    x: View<'_>,
    d: View<'_>,
    norm_sq: View<'_>,
    y: View<'_>,
) -> Result<Dispatch> {
    prepare_inner(gpu, (form, how), (x, d, y), norm_sq, true)
}

fn prepare_inner(
    gpu: &Gpu,
    (form, how): (VectorForm, Perturbation),
    (x, d, y): (View<'_>, View<'_>, View<'_>),
    norm_sq: View<'_>,
    with_norm: bool,
) -> Result<Dispatch> {
    const OP: &str = "perturb";
    check(how, (x, d, y), norm_sq)?;
    let n = x.len;
    let p = PerturbParams {
        n: as_u32(OP, "n", n)?,
        off_x: as_u32(OP, "x offset", x.offset)?,
        off_d: as_u32(OP, "d offset", d.offset)?,
        off_norm: as_u32(OP, "norm offset", norm_sq.offset)?,
        rho: how.rho,
        eps: EPS,
        normalized: how.normalized as u32,
        adaptive: how.adaptive as u32,
    };
    // Whole-row vectors from element 0 are read through texture copies (see
    // `texture_copies`); others directly.
    let copies = if form == VectorForm::Texture && x.offset == 0 && d.offset == 0 {
        texture_copies(gpu, p.n, &[x, d])?
    } else {
        None
    };
    let launch = |(label, source), a: Bind<'_>, b: Bind<'_>| {
        build(
            gpu,
            Launch {
                label,
                source,
                entry: "perturb",
                constants: &[],
                params: Params::Bytes(bytemuck::bytes_of(&p)),
                replicas: None,
                bindings: &[
                    a,
                    b,
                    Bind::Buf(&norm_sq.buf.buffer),
                    Bind::Buf(&y.buf.buffer),
                ],
                groups: grid_1d(gpu, as_u32(OP, "groups", n.div_ceil(1024))?),
            },
        )
    };
    let norm = |tex: Option<&wgpu::TextureView>| -> Result<Dispatch> {
        Ok(match (with_norm, how.adaptive, tex) {
            (false, _, _) => Dispatch::empty(),
            (true, true, _) => norm::prepare_weighted(gpu, x, d, norm_sq)?,
            (true, false, Some(t)) => norm::prepare_from_texture(gpu, t, n, norm_sq)?,
            (true, false, None) => norm::prepare(gpu, form, d, norm_sq)?,
        })
    };
    match copies {
        Some((copy, views)) => Ok(copy.then(norm(Some(&views[1]))?).then(launch(
            ("perturb_tex", TEXTURE_SRC),
            Bind::Tex(&views[0]),
            Bind::Tex(&views[1]),
        )?)),
        None => Ok(norm(None)?.then(launch(
            ("perturb", STORAGE_SRC),
            Bind::Buf(&x.buf.buffer),
            Bind::Buf(&d.buf.buffer),
        )?)),
    }
}

/// The shapes and radius a perturbation needs, naming what is wrong.
fn check(
    how: Perturbation,
    (x, d, y): (View<'_>, View<'_>, View<'_>),
    norm_sq: View<'_>,
) -> Result<()> {
    const OP: &str = "perturb";
    let n = x.len;
    if n == 0 || d.len != n {
        return Err(Error::shape(
            OP,
            format!("x has {n} elements and d {}", d.len),
        ));
    }
    if !(how.rho.is_finite() && how.rho >= 0.0) {
        return Err(Error::Invalid(format!(
            "rho must be a non-negative finite number, got {}",
            how.rho
        )));
    }
    y.expect_len(OP, "y", n)?;
    if !(x.offset.is_multiple_of(4) && d.offset.is_multiple_of(4)) {
        return Err(Error::shape(
            OP,
            format!(
                "x and d must start at multiples of 4 elements, not {} and {}",
                x.offset, d.offset
            ),
        ));
    }
    norm_sq.expect_len(OP, "norm", 1)?;
    let y_buf = &y.buf.buffer;
    if y.offset != 0 || [&x.buf.buffer, &d.buf.buffer, &norm_sq.buf.buffer].contains(&y_buf) {
        return Err(Error::shape(
            OP,
            "y must be a whole buffer distinct from x, d and the norm",
        ));
    }
    Ok(())
}

/// CPU f64 reference.
pub fn reference(how: Perturbation, x: &[f64], d: &[f64]) -> Vec<f64> {
    let t: Vec<f64> = if how.adaptive {
        x.iter().zip(d).map(|(x, d)| x * x * d).collect()
    } else {
        d.to_vec()
    };
    let norm = if how.adaptive {
        x.iter().zip(d).map(|(x, d)| (x * d) * (x * d)).sum::<f64>()
    } else {
        d.iter().map(|v| v * v).sum::<f64>()
    }
    .sqrt();
    let s = if how.normalized {
        how.rho as f64 / (norm + EPS as f64)
    } else {
        how.rho as f64
    };
    x.iter().zip(&t).map(|(x, t)| x + s * t).collect()
}
