//! `sampa toy`: the paper's quadratic toy on the GPU, as a CSV and a plot.

use anyhow::Context;
use sampa::toy::{self, Method, ToyConfig, Trace};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Methods: gd, sam, sampa-<λ> (any λ in [0, 1]), randsam, optsam.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "gd,sam,sampa-0,sampa-0.5,randsam,optsam"
    )]
    methods: Vec<String>,
    /// Step size η.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    eta: f64,
    /// Perturbation radius ρ.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    rho: f64,
    /// Steps.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Dimension (x0 defaults to all ones).
    #[arg(long)]
    dim: Option<usize>,
    /// Starting point, comma-separated.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    x0: Option<Vec<f64>>,
    /// Seed of RandSAM's directions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Perturb by ρ·g instead of ρ·g/‖g‖.
    #[arg(long)]
    unnormalized: bool,
    /// Curvatures a of the anisotropic toy f(x) = Σ aᵢxᵢ², one per dimension (default: all 1,
    /// f(x) = ‖x‖²).
    #[arg(long, value_delimiter = ',')]
    curvature: Option<Vec<f64>>,
    /// Adapter: index, backend or name substring; else SAMPA_ADAPTER.
    #[arg(long)]
    adapter: Option<String>,
    /// Output directory for toy.csv and toy.png.
    #[arg(long, default_value = "runs/toy")]
    out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let x0 = match (a.x0, a.dim) {
        (Some(x0), Some(d)) if x0.len() != d => {
            anyhow::bail!(
                "--x0 has {} values but --dim is {d}; give one value per dimension",
                x0.len()
            )
        }
        (Some(x0), _) => x0,
        (None, Some(d)) => vec![1.0; d],
        (None, None) => vec![1.0, 1.0],
    };
    let config = ToyConfig {
        eta: a.eta,
        rho: a.rho,
        steps: a.steps,
        x0,
        seed: a.seed,
        unnormalized: a.unnormalized,
        curvature: a.curvature.unwrap_or_default(),
    };
    config.validate()?;
    let methods: Vec<Method> = a
        .methods
        .iter()
        .map(|m| Method::parse(m))
        .collect::<Result<_, _>>()?;
    let gpu = pollster::block_on(sampa::Gpu::open_flag_or_env(a.adapter.as_deref()))?;
    let f = if config.curvature.is_empty() {
        "‖x‖²".to_string()
    } else {
        format!("Σ aᵢxᵢ² with a = {:?}", config.curvature)
    };
    sampa::outln!(
        "toy f(x) = {f}, d = {}, η = {}, ρ = {}, {} steps on {}",
        config.x0.len(),
        config.eta,
        config.rho,
        config.steps,
        gpu.adapter.short()
    );
    let mut traces = Vec::new();
    for m in methods {
        let t = gpu.block_on(toy::gpu::run_gpu(&gpu, m, &config))?;
        sampa::outln!(
            "{:<12} final ‖∇f‖² {:.4e}   median of the last quarter {:.4e}",
            m.name(),
            t.grad_norm_sq.last().copied().unwrap_or(f64::NAN),
            toy::tail_median(&t.grad_norm_sq)
        );
        traces.push(t);
    }
    if !config.unnormalized && config.eta < 1.0 && config.curvature.is_empty() {
        sampa::outln!(
            "SAM's closed-form 2-cycle level 4η²ρ²/(1−η)² = {:.4e}",
            config.sam_plateau()
        );
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    write_csv(&traces, &a.out.join("toy.csv"))?;
    sampa::run::plot::toy_curves(&traces, &config, &a.out.join("toy.png"))?;
    sampa::outln!("wrote {}/toy.csv and toy.png", a.out.display());
    Ok(())
}

fn write_csv(traces: &[Trace], path: &Path) -> anyhow::Result<()> {
    let mut s = String::from("method,step,grad_norm_sq,loss\n");
    for t in traces {
        for (i, (g, l)) in t.grad_norm_sq.iter().zip(&t.loss).enumerate() {
            s.push_str(&format!("{},{i},{g:e},{l:e}\n", t.method.name()));
        }
    }
    sampa::fsutil::write_atomic(path, s.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
