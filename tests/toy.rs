#![cfg(not(target_arch = "wasm32"))]
//! The quadratic toy's f64 reference: SAM's closed-form plateau, the methods' ordering, and
//! SAMPa's first step and λ = 0 behaviour.

use sampa::toy::{self, Method, ToyConfig};

#[test]
fn sam_settles_on_its_closed_form_two_cycle() {
    for (eta, rho) in [(0.1, 0.1), (0.05, 0.2), (0.3, 0.05)] {
        let c = ToyConfig {
            eta,
            rho,
            ..ToyConfig::default()
        };
        let t = toy::run_cpu(Method::Sam, &c).unwrap();
        let last = *t.grad_norm_sq.last().unwrap();
        let want = c.sam_plateau();
        eprintln!("SAM η={eta} ρ={rho}: final ‖∇f‖² {last:.6e}, closed form {want:.6e}");
        assert!((last / want - 1.0).abs() < 1e-4, "{last} vs {want}");
    }
    assert!((ToyConfig::default().sam_plateau() - 4.938_271_6e-4).abs() < 1e-10);
}

#[test]
fn sam_and_sampa_settle_far_below_the_naive_parallel_variants() {
    let c = ToyConfig::default();
    let level = |m: &str| {
        toy::tail_median(
            &toy::run_cpu(Method::parse(m).unwrap(), &c)
                .unwrap()
                .grad_norm_sq,
        )
    };
    let (sam, s0, s5) = (level("sam"), level("sampa-0"), level("sampa-0.5"));
    let (rand, opt) = (level("randsam"), level("optsam"));
    eprintln!(
        "median ‖∇f‖² over the last quarter: sam {sam:.2e}, sampa-0 {s0:.2e}, sampa-0.5 {s5:.2e}, randsam {rand:.2e}, optsam {opt:.2e}"
    );
    for good in [sam, s5] {
        assert!(
            5.0 * good <= rand.min(opt),
            "{good} is not 5x below {rand} and {opt}"
        );
    }
    // SAMPa-0 settles below both naive variants but only about 1.5x below RandSAM here: its
    // perturbation comes from ∇f(y_t) with y_{t+1} = x_t − η∇f(y_t), which keeps x_t's sign
    // while x flips sign in SAM's 2-cycle, so it has no such cycle (worked out by hand in 1-D
    // and matching the official code's update order). Asserted as measured, not as hoped.
    assert!(
        s0 < rand && s0 < opt,
        "SAMPa-0 {s0} vs randsam {rand}, optsam {opt}"
    );
    assert!(
        s0 > 2.0 * sam,
        "SAMPa-0 sits above SAM's plateau on this toy ({s0} vs {sam})"
    );
}

#[test]
fn sampa_first_step_is_gradient_descent_and_lambda_zero_still_perturbs() {
    let c = ToyConfig {
        steps: 3,
        ..ToyConfig::default()
    };
    let gd = toy::run_cpu(Method::Gd, &c).unwrap();
    let s0 = toy::run_cpu(Method::Sampa(0.0), &c).unwrap();
    let s1 = toy::run_cpu(Method::Sampa(1.0), &c).unwrap();
    assert_eq!(
        s0.loss[1], gd.loss[1],
        "g_y = 0 on the first step, so it is a GD step"
    );
    assert_eq!(s1.loss[1], gd.loss[1]);
    // λ = 0 uses g_y for the perturbation (the official code's λ = 0 pitfall would make it GD).
    assert!(
        (s0.loss[2] - gd.loss[2]).abs() > 1e-6,
        "SAMPa-0 must differ from GD after step 1"
    );
}

#[test]
fn bad_settings_name_the_flag() {
    let e = |c: ToyConfig| toy::run_cpu(Method::Sam, &c).unwrap_err().to_string();
    assert!(
        e(ToyConfig {
            rho: -0.1,
            ..ToyConfig::default()
        })
        .starts_with("--rho must be")
    );
    assert!(
        e(ToyConfig {
            eta: f64::NAN,
            ..ToyConfig::default()
        })
        .starts_with("--eta must be")
    );
    assert!(
        e(ToyConfig {
            x0: vec![],
            ..ToyConfig::default()
        })
        .starts_with("--dim must be")
    );
    assert!(
        Method::parse("sampa-1.5")
            .unwrap_err()
            .to_string()
            .contains("λ must be in [0, 1]")
    );
    assert!(
        Method::parse("adam")
            .unwrap_err()
            .to_string()
            .contains("unknown method \"adam\"")
    );
    assert_eq!(Method::parse("SAMPa-0.5").unwrap(), Method::Sampa(0.5));
}

mod common;

#[test]
fn gpu_toy_matches_the_f64_reference() {
    // The criterion is toy::agreement's: 1e-5 relative over the first 50 steps (absolute near
    // zero), then the plateau level within 10%.
    for gpu in &common::gpus() {
        let c = ToyConfig::default();
        for m in [
            "gd",
            "sam",
            "sampa-0",
            "sampa-0.5",
            "sampa-1",
            "randsam",
            "optsam",
        ] {
            let method = Method::parse(m).unwrap();
            let cpu = toy::run_cpu(method, &c).unwrap();
            let gpu_trace = gpu.block_on(toy::gpu::run_gpu(gpu, method, &c)).unwrap();
            assert_eq!(gpu_trace.grad_norm_sq.len(), 201);
            let a = toy::agreement(&cpu.grad_norm_sq, &gpu_trace.grad_norm_sq);
            eprintln!(
                "{} {m}: first 50 steps at {:.2} of the tolerance; plateaus differ by {:.1e}",
                gpu.adapter.short(),
                a.early,
                a.plateau
            );
            assert!(a.holds(m == "gd"), "{m}: {a:?}");
        }
        let sam = gpu
            .block_on(toy::gpu::run_gpu(gpu, Method::Sam, &c))
            .unwrap();
        let last = *sam.grad_norm_sq.last().unwrap();
        assert!(
            (last / c.sam_plateau() - 1.0).abs() < 1e-4,
            "GPU SAM {last} vs closed form {}",
            c.sam_plateau()
        );
    }
}

#[test]
fn anisotropic_toy_and_chunked_runs_match() {
    let c = ToyConfig {
        x0: vec![1.0, -0.5],
        curvature: vec![1.0, 4.0],
        eta: 0.05,
        ..ToyConfig::default()
    };
    assert!(
        toy::run_cpu(
            Method::Sam,
            &ToyConfig {
                curvature: vec![1.0],
                ..c.clone()
            }
        )
        .unwrap_err()
        .to_string()
        .starts_with("--curvature must be 2 positive finite numbers")
    );
    for gpu in &common::gpus() {
        for m in ["gd", "sam", "sampa-0.5", "randsam", "optsam"] {
            let method = Method::parse(m).unwrap();
            let cpu = toy::run_cpu(method, &c).unwrap();
            let whole = gpu.block_on(toy::gpu::run_gpu(gpu, method, &c)).unwrap();
            // f and ‖∇f‖² follow the anisotropic formulas, and x_t is recorded.
            let x0 = &cpu.points[..2];
            assert_eq!(x0, &[1.0, -0.5]);
            assert!(
                (cpu.loss[0] - 2.0).abs() < 1e-12 && (cpu.grad_norm_sq[0] - 20.0).abs() < 1e-12
            );
            for t in 0..=30 {
                for k in 0..2 {
                    let (a, b) = (cpu.points[2 * t + k], whole.points[2 * t + k]);
                    assert!(
                        (a - b).abs() <= 1e-5 * a.abs().max(1e-3),
                        "{m} x_{t}[{k}]: {a} vs {b}"
                    );
                }
            }
            // Drawing while it runs: the same steps in chunks give the same numbers.
            let mut run = toy::gpu::ToyRun::new(gpu, method, &c).unwrap();
            let mut last = None;
            while !run.finished() {
                let t = gpu.block_on(run.advance(gpu, 37)).unwrap();
                assert_eq!(t.grad_norm_sq.len(), run.done() + 1);
                last = Some(t);
            }
            assert_eq!(last.unwrap(), whole, "{m}: chunked run differs");
        }
    }
}
