//! The paper's quadratic toy (Figure 1): f(x) = ‖x‖², ∇f(x) = 2x, full gradients, plain
//! gradient descent with step η as the base optimizer; optionally the anisotropic
//! f(x) = Σ aᵢxᵢ², ∇f(x) = 2a⊙x, whose paths differ visibly in a plot. This file is the CPU f64
//! reference of every method in `docs/src/design/algorithms.md`; it has no native-only dependencies so
//! the browser demo can use it too.
//!
//! With normalised perturbations and fixed η < 1 and ρ, SAM ends in a 2-cycle x → −x with
//! ‖x‖ = ηρ/(1−η), so ‖∇f‖² settles at 4η²ρ²/(1−η)² rather than at 0.

pub mod gpu;

use crate::error::{Error, Result};
use crate::rng::Pcg;

/// Added to every norm used as a divisor.
pub const EPS: f64 = 1e-12;

/// A method on the toy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Gradient descent.
    Gd,
    /// SAM: the gradient at x + ρ ∇f(x)/‖∇f(x)‖, two gradients one after the other.
    Sam,
    /// SAMPa-λ: perturbation from the last auxiliary gradient, both gradients in parallel.
    Sampa(f64),
    /// RandSAM: a random unit perturbation of length ρ (a reconstruction from the paper's text).
    RandSam,
    /// OptSAM: the perturbation from the gradient the previous step used (a reconstruction).
    OptSam,
}

impl Method {
    /// Parse `gd`, `sam`, `sampa-<λ>`, `randsam` or `optsam`.
    pub fn parse(s: &str) -> Result<Method> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "gd" | "sgd" => Ok(Method::Gd),
            "sam" => Ok(Method::Sam),
            "randsam" => Ok(Method::RandSam),
            "optsam" => Ok(Method::OptSam),
            _ => {
                let lambda = s.strip_prefix("sampa-").and_then(|l| l.parse::<f64>().ok()).ok_or_else(|| {
                    Error::Invalid(format!("unknown method {s:?}: expected gd, sam, sampa-<λ> (e.g. sampa-0.5), randsam or optsam"))
                })?;
                if !(0.0..=1.0).contains(&lambda) {
                    return Err(Error::Invalid(format!(
                        "{s}: λ must be in [0, 1], got {lambda}"
                    )));
                }
                Ok(Method::Sampa(lambda))
            }
        }
    }

    /// The name as [`Method::parse`] reads it.
    pub fn name(self) -> String {
        match self {
            Method::Gd => "gd".into(),
            Method::Sam => "sam".into(),
            Method::Sampa(l) => format!("sampa-{l}"),
            Method::RandSam => "randsam".into(),
            Method::OptSam => "optsam".into(),
        }
    }
}

/// The toy's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ToyConfig {
    /// Step size η.
    pub eta: f64,
    /// Perturbation radius ρ.
    pub rho: f64,
    /// Steps after the start.
    pub steps: usize,
    /// Starting point (its length is the dimension).
    pub x0: Vec<f64>,
    /// Seed of RandSAM's directions.
    pub seed: u64,
    /// Use ρ·g instead of ρ·g/‖g‖ (USAM).
    pub unnormalized: bool,
    /// Curvatures aᵢ of f(x) = Σ aᵢxᵢ²; empty means all ones (the isotropic toy).
    pub curvature: Vec<f64>,
}

impl Default for ToyConfig {
    /// The documented defaults: d = 2, x0 = (1, 1), η = ρ = 0.1, 200 steps.
    fn default() -> Self {
        ToyConfig {
            eta: 0.1,
            rho: 0.1,
            steps: 200,
            x0: vec![1.0, 1.0],
            seed: 0,
            unnormalized: false,
            curvature: Vec::new(),
        }
    }
}

impl ToyConfig {
    /// Check the settings, naming the flag that is wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &str, want: &str, got: String| {
            Err(Error::Invalid(format!("{flag} must be {want}, got {got}")))
        };
        if !(self.eta.is_finite() && self.eta > 0.0) {
            return bad("--eta", "a positive finite number", self.eta.to_string());
        }
        if !(self.rho.is_finite() && self.rho >= 0.0) {
            return bad(
                "--rho",
                "a non-negative finite number",
                self.rho.to_string(),
            );
        }
        if self.steps == 0 {
            return bad("--steps", "at least 1", "0".into());
        }
        if self.x0.is_empty() {
            return bad("--dim", "at least 1", "0".into());
        }
        if self.x0.iter().any(|v| !v.is_finite()) {
            return bad("--x0", "finite numbers", format!("{:?}", self.x0));
        }
        if !self.curvature.is_empty()
            && (self.curvature.len() != self.x0.len()
                || self.curvature.iter().any(|a| !(a.is_finite() && *a > 0.0)))
        {
            return bad(
                "--curvature",
                &format!(
                    "{} positive finite numbers (one per dimension)",
                    self.x0.len()
                ),
                format!("{:?}", self.curvature),
            );
        }
        Ok(())
    }

    /// The curvatures aᵢ, ones when none were given.
    pub fn curvatures(&self) -> Vec<f64> {
        if self.curvature.is_empty() {
            vec![1.0; self.x0.len()]
        } else {
            self.curvature.clone()
        }
    }

    /// The closed-form level of SAM's 2-cycle: 4η²ρ²/(1−η)² (normalised perturbation, η < 1).
    pub fn sam_plateau(&self) -> f64 {
        4.0 * self.eta * self.eta * self.rho * self.rho / ((1.0 - self.eta) * (1.0 - self.eta))
    }
}

/// ‖∇f(x_t)‖², f(x_t) and x_t for t = 0 ..= steps (or as far as a run has got).
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// The method.
    pub method: Method,
    /// ‖∇f(x_t)‖² (= 4‖x_t‖² on the isotropic toy).
    pub grad_norm_sq: Vec<f64>,
    /// f(x_t).
    pub loss: Vec<f64>,
    /// x_t, one point of `d` coordinates after another.
    pub points: Vec<f64>,
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// x + ρ·d/(‖d‖ + eps), or x + ρ·d when unnormalised.
fn perturb(x: &[f64], d: &[f64], rho: f64, unnormalized: bool) -> Vec<f64> {
    let scale = if unnormalized {
        rho
    } else {
        rho / (norm(d) + EPS)
    };
    x.iter().zip(d).map(|(x, d)| x + scale * d).collect()
}

/// Run `method` on the toy in f64.
pub fn run_cpu(method: Method, c: &ToyConfig) -> Result<Trace> {
    c.validate()?;
    let d = c.x0.len();
    let a = c.curvatures();
    let grad = |x: &[f64]| -> Vec<f64> { x.iter().zip(&a).map(|(v, a)| 2.0 * a * v).collect() };
    let mut x = c.x0.clone();
    let mut rng = Pcg::new(c.seed, 0x70e);
    // SAMPa's auxiliary gradient g_y and OptSAM's previous gradient; both start at zero.
    let mut carried = vec![0.0; d];
    let mut trace = Trace {
        method,
        grad_norm_sq: Vec::with_capacity(c.steps + 1),
        loss: Vec::with_capacity(c.steps + 1),
        points: Vec::with_capacity((c.steps + 1) * d),
    };
    let record = |x: &[f64], t: &mut Trace| {
        t.loss
            .push(x.iter().zip(&a).map(|(v, a)| a * v * v).sum::<f64>());
        t.grad_norm_sq
            .push(grad(x).iter().map(|g| g * g).sum::<f64>());
        t.points.extend_from_slice(x);
    };
    record(&x, &mut trace);
    for _ in 0..c.steps {
        let step_grad = match method {
            Method::Gd => grad(&x),
            Method::Sam => grad(&perturb(&x, &grad(&x), c.rho, c.unnormalized)),
            Method::Sampa(lambda) => {
                let x_tilde = perturb(&x, &carried, c.rho, c.unnormalized);
                // The base step is plain GD, so the look-ahead is x − η·g_y.
                let y_next: Vec<f64> = x.iter().zip(&carried).map(|(x, g)| x - c.eta * g).collect();
                let (g_p, g_n) = (grad(&x_tilde), grad(&y_next));
                let mix = g_p
                    .iter()
                    .zip(&g_n)
                    .map(|(p, n)| (1.0 - lambda) * p + lambda * n)
                    .collect();
                carried = g_n;
                mix
            }
            Method::RandSam => {
                let u: Vec<f64> = (0..d).map(|_| rng.normal() as f64).collect();
                grad(&perturb(&x, &u, c.rho, c.unnormalized))
            }
            Method::OptSam => {
                let g = grad(&perturb(&x, &carried, c.rho, c.unnormalized));
                carried = g.clone();
                g
            }
        };
        for (x, g) in x.iter_mut().zip(&step_grad) {
            *x -= c.eta * g;
        }
        record(&x, &mut trace);
    }
    Ok(trace)
}

/// Median of the last quarter of `v` (the plateau level; the last value when `v` is shorter
/// than 4, and NaN when it is empty).
pub fn tail_median(v: &[f64]) -> f64 {
    let mut tail = v[v.len() - (v.len() / 4).max(v.len().min(1))..].to_vec();
    if tail.is_empty() {
        return f64::NAN;
    }
    tail.sort_by(f64::total_cmp);
    tail[tail.len() / 2]
}

/// How closely an f32 trace follows the f64 reference, by the demo's standard.
#[derive(Clone, Copy, Debug)]
pub struct Agreement {
    /// Worst difference over steps 0..=50 as a fraction of its tolerance (≤ 1 passes): 1e-5
    /// relative, or 1e-11 absolute where ‖∇f‖² < 1e-6 (there x_{t+1} = x_t − η·g cancels and
    /// only f32's absolute error means anything).
    pub early: f64,
    /// Relative difference of the last quarter's medians (later, f32 rounding may shift an
    /// oscillation's phase, so levels are compared; within 0.1 passes).
    pub plateau: f64,
}

impl Agreement {
    /// Whether both criteria hold (`plateau` is ignored for runs that converge to 0, such as GD,
    /// whose medians are rounding noise).
    pub fn holds(&self, converges: bool) -> bool {
        self.early <= 1.0 && (converges || self.plateau < 0.1)
    }
}

/// Compare `got` (‖∇f‖² from an f32 run) with the f64 `reference`.
pub fn agreement(reference: &[f64], got: &[f64]) -> Agreement {
    let n = reference.len().min(got.len()).min(51);
    let early = reference[..n]
        .iter()
        .zip(&got[..n])
        .map(|(a, b)| {
            if *a >= 1e-6 {
                (a - b).abs() / a * 1e5
            } else {
                (a - b).abs() * 1e11
            }
        })
        .fold(0.0, f64::max);
    let (pr, pg) = (tail_median(reference), tail_median(got));
    Agreement {
        early,
        plateau: (pg / pr - 1.0).abs(),
    }
}
