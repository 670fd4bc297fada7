//! A browser training session's settings, read from the page's query string with the names of
//! the `sampa train` flags (`model`, `hidden`, `epochs`, `batch`, `lr`, `base`, `momentum`,
//! `betas`, `eps`, `wd`, `no-wd-1d`, `rho`, `lambda`, `vasso-theta`, `m-sharpness`, the
//! variants' own `gsam-alpha`, `looksam-k`, `looksam-alpha`, `aesam-c0`, `aesam-c1`,
//! `esam-beta` and `esam-gamma`, `seed`, `schedule`) plus `optimizers`, the comma list run one
//! after another. The defaults are `sampa train`'s, so a page run and a native run with the same
//! settings train the same way (a native test holds the two lists together).

use crate::error::{Error, Result};
use crate::optim::{BaseHyper, BaseKind, BaseSettings, OptimizerConfig, OptimizerKind};
use crate::train::Schedule;

/// Everything a session trains with.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `mlp`, `cnn` or a ViT (`vit-D-W-H-pP`).
    pub model: String,
    /// The MLP's hidden widths.
    pub hidden: Vec<usize>,
    /// The optimizers to compare, in order, each with its options.
    pub optimizers: Vec<OptimizerConfig>,
    /// Passes over the training set per optimizer.
    pub epochs: usize,
    /// Examples per batch.
    pub batch: usize,
    /// The learning rate, constant.
    pub lr: f32,
    /// The base optimizer and its settings (SGD's momentum, Adam's betas, weight decay).
    pub base: BaseSettings,
    /// ρ of every SAM variant.
    pub rho: f32,
    /// λ of `sampa` without its own (`sampa-0.5` has its own).
    pub lambda: f32,
    /// VaSSO's θ for the `sam` and `sampa` runs, if any.
    pub vasso_theta: Option<f32>,
    /// m-sharpness's group size for the `sam` and `sampa` runs, if any.
    pub m_sharpness: Option<usize>,
    /// `--no-wd-1d` for every run: weight decay spares biases, 1-D tensors and a ViT's
    /// `pos_embed` and `cls_token`.
    pub no_wd_1d: bool,
    /// The variants' own settings as the query gave them (`looksam-k`, …), each applied to
    /// the runs of its optimizer.
    pub variants: Vec<(String, String)>,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
    /// SAMPa's schedule on the one adapter: auto, serial, interleaved or fused.
    pub schedule: Schedule,
}

impl Default for Settings {
    fn default() -> Self {
        let base = OptimizerConfig::default();
        Settings {
            model: "mlp".into(),
            hidden: vec![256, 256],
            optimizers: ["sgd", "sam", "sampa"]
                .iter()
                .map(|n| optimizer(n, base).expect("known names"))
                .collect(),
            epochs: 3,
            batch: 128,
            lr: 0.05,
            base: BaseSettings {
                kind: BaseKind::Sgd,
                weight_decay: 5e-4,
                momentum: 0.9,
                nesterov: false,
                betas: base.betas,
                eps: base.eps,
            },
            rho: base.rho,
            lambda: base.lambda,
            vasso_theta: None,
            m_sharpness: None,
            no_wd_1d: false,
            variants: Vec::new(),
            seed: 0,
            schedule: Schedule::Auto,
        }
    }
}

/// The query parameters [`Settings::from_query`] reads.
pub const KEYS: [&str; 25] = [
    "model",
    "hidden",
    "optimizers",
    "epochs",
    "batch",
    "lr",
    "base",
    "momentum",
    "betas",
    "eps",
    "wd",
    "no-wd-1d",
    "rho",
    "lambda",
    "vasso-theta",
    "m-sharpness",
    "gsam-alpha",
    "looksam-k",
    "looksam-alpha",
    "aesam-c0",
    "aesam-c1",
    "esam-beta",
    "esam-gamma",
    "seed",
    "schedule",
];

impl Settings {
    /// The settings of a query string such as `model=mlp&optimizers=sgd,sam,sampa&lambda=0.2`
    /// (with or without its `?`): the defaults, changed by each parameter given. A parameter
    /// outside [`KEYS`] or a value out of range is an error naming it.
    pub fn from_query(query: &str) -> Result<Settings> {
        let pairs: Vec<(String, String)> = query
            .trim_start_matches('?')
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        if let Some((k, _)) = pairs.iter().find(|(k, _)| !KEYS.contains(&k.as_str())) {
            return Err(Error::Invalid(format!(
                "unknown setting {k:?}; the page reads {}",
                KEYS.join(", ")
            )));
        }
        let get = |key: &str| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
        let mut s = Settings::default();
        if let Some(m) = get("model") {
            let vit = crate::nn::vits::VitSpec::named(m).is_ok();
            if m != "mlp" && m != "cnn" && !vit {
                return Err(bad("model", "mlp, cnn or a ViT such as vit-2-64-4-p7", m));
            }
            s.model = m.clone();
        }
        if let Some(h) = get("hidden") {
            s.hidden = h
                .split(',')
                .map(|w| w.trim().parse().ok().filter(|&w: &usize| w > 0))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("hidden", "a comma list of positive widths", h))?;
        }
        positive(get("epochs"), "epochs", &mut s.epochs)?;
        positive(get("batch"), "batch", &mut s.batch)?;
        number(get("lr"), "lr", &mut s.lr)?;
        if let Some(b) = get("base") {
            s.base.kind = BaseKind::parse(b).map_err(|e| bad("base", "sgd, adam or adamw", &e))?;
        }
        if get("momentum").is_some() && s.base.kind != BaseKind::Sgd {
            return Err(bad(
                "momentum",
                "given with base=sgd only",
                s.base.kind.name(),
            ));
        }
        number(get("momentum"), "momentum", &mut s.base.momentum)?;
        if let Some(b) = get("betas") {
            s.base.betas = crate::optim::config::parse_betas(b)
                .map_err(|_| bad("betas", "two numbers B1,B2", b))?;
        }
        number(get("eps"), "eps", &mut s.base.eps)?;
        number(get("wd"), "wd", &mut s.base.weight_decay)?;
        number(get("rho"), "rho", &mut s.rho)?;
        number(get("lambda"), "lambda", &mut s.lambda)?;
        if let Some(v) = get("seed") {
            s.seed = v.parse().map_err(|_| bad("seed", "a whole number", v))?;
        }
        if let Some(v) = get("schedule") {
            s.schedule = match v.as_str() {
                "auto" => Schedule::Auto,
                "serial" => Schedule::Serial,
                "interleaved" => Schedule::Interleaved,
                "fused" => Schedule::Fused,
                _ => return Err(bad("schedule", "auto, serial, interleaved or fused", v)),
            };
        }
        if let Some(v) = get("no-wd-1d") {
            s.no_wd_1d = match v.as_str() {
                "" | "1" | "true" => true,
                "0" | "false" => false,
                _ => return Err(bad("no-wd-1d", "1 or true (or 0, false)", v)),
            };
        }
        let base = OptimizerConfig {
            no_wd_1d: s.no_wd_1d,
            rho: s.rho,
            lambda: s.lambda,
            base: s.base.kind,
            betas: s.base.betas,
            eps: s.base.eps,
            ..OptimizerConfig::default()
        };
        let names = get("optimizers").map_or("sgd,sam,sampa", |v| v.as_str());
        s.optimizers = names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| optimizer(n, base))
            .collect::<Result<_>>()?;
        // VaSSO's average applies to the optimizers that follow a gradient's direction.
        if let Some(v) = get("vasso-theta") {
            let mut theta = 0.0;
            number(Some(v), "vasso-theta", &mut theta)?;
            s.vasso_theta = Some(theta);
            for o in &mut s.optimizers {
                if matches!(o.kind, OptimizerKind::Sam | OptimizerKind::Sampa) {
                    o.vasso_theta = Some(theta);
                }
            }
        }
        // m-sharpness applies to the same two.
        if let Some(v) = get("m-sharpness") {
            let mut m = 0;
            positive(Some(v), "m-sharpness", &mut m)?;
            if !s.batch.is_multiple_of(m) {
                let want = format!("a divisor of batch {}", s.batch);
                return Err(bad("m-sharpness", &want, v));
            }
            s.m_sharpness = Some(m);
            for o in &mut s.optimizers {
                if matches!(o.kind, OptimizerKind::Sam | OptimizerKind::Sampa) {
                    o.m_sharpness = Some(m);
                }
            }
        }
        for (key, kind) in VARIANT_KEYS {
            if let Some(v) = get(key) {
                s.variants.push((key.to_string(), v.clone()));
                for o in s.optimizers.iter_mut().filter(|o| o.kind == kind) {
                    set_variant(o, key, v)?;
                }
            }
        }
        s.validate()?;
        Ok(s)
    }

    /// Every step's base-step hyper-parameters.
    pub fn hyper(&self) -> BaseHyper {
        self.base.hyper(self.lr)
    }

    fn validate(&self) -> Result<()> {
        let h = self.base;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(bad("lr", "a positive number", &self.lr.to_string()));
        }
        if !(0.0..1.0).contains(&h.momentum) {
            return Err(bad("momentum", "in [0, 1)", &h.momentum.to_string()));
        }
        if !(h.weight_decay.is_finite() && h.weight_decay >= 0.0) {
            return Err(bad(
                "wd",
                "a non-negative number",
                &h.weight_decay.to_string(),
            ));
        }
        if self.optimizers.is_empty() {
            return Err(bad("optimizers", "at least one optimizer", ""));
        }
        for o in &self.optimizers {
            o.validate()?;
        }
        Ok(())
    }
}

/// What the page calls an optimizer in its results: `sgd`, `sam`, `sampa-0.2`, ...
pub fn id(o: &OptimizerConfig) -> String {
    let label = o.label();
    label.split(" (").next().unwrap_or(&label).to_string()
}

/// The optimizer `name` (`sgd`, `sam`, `sampa`, `sampa-<λ>`, `randsam`, `optsam`, `sam-db`, `gsam`,
/// `looksam`, `aesam`, `esam`) with `base`'s options.
fn optimizer(name: &str, base: OptimizerConfig) -> Result<OptimizerConfig> {
    let unknown = || {
        bad(
            "optimizers",
            "a comma list of sgd, sam, sampa, sampa-<λ>, randsam, optsam, sam-db, gsam, looksam, \
             aesam, esam",
            name,
        )
    };
    if let Some(l) = name.strip_prefix("sampa-") {
        let lambda = l.parse().map_err(|_| unknown())?;
        return Ok(OptimizerConfig {
            kind: OptimizerKind::Sampa,
            lambda,
            ..base
        });
    }
    let kind: OptimizerKind =
        serde_json::from_value(serde_json::Value::String(name.into())).map_err(|_| unknown())?;
    Ok(OptimizerConfig { kind, ..base })
}

/// The variants' own settings and the optimizer each belongs to.
const VARIANT_KEYS: [(&str, OptimizerKind); 7] = [
    ("gsam-alpha", OptimizerKind::Gsam),
    ("looksam-k", OptimizerKind::LookSam),
    ("looksam-alpha", OptimizerKind::LookSam),
    ("aesam-c0", OptimizerKind::AeSam),
    ("aesam-c1", OptimizerKind::AeSam),
    ("esam-beta", OptimizerKind::Esam),
    ("esam-gamma", OptimizerKind::Esam),
];

/// Set variant setting `key` of `o` to `v` (its range is the optimizer's to check).
fn set_variant(o: &mut OptimizerConfig, key: &str, v: &String) -> Result<()> {
    if key == "looksam-k" {
        let mut k = 0;
        positive(Some(v), key, &mut k)?;
        o.looksam_k = Some(k);
        return Ok(());
    }
    let mut x = 0.0;
    number(Some(v), key, &mut x)?;
    let field = match key {
        "gsam-alpha" => &mut o.gsam_alpha,
        "looksam-alpha" => &mut o.looksam_alpha,
        "aesam-c0" => &mut o.aesam_c0,
        "aesam-c1" => &mut o.aesam_c1,
        "esam-beta" => &mut o.esam_beta,
        _ => &mut o.esam_gamma,
    };
    *field = Some(x);
    Ok(())
}

fn bad(key: &str, want: &str, got: &str) -> Error {
    Error::Invalid(format!("{key}={got}: expected {want}"))
}

fn positive(v: Option<&String>, key: &str, out: &mut usize) -> Result<()> {
    if let Some(v) = v {
        *out = v
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| bad(key, "a positive whole number", v))?;
    }
    Ok(())
}

fn number(v: Option<&String>, key: &str, out: &mut f32) -> Result<()> {
    if let Some(v) = v {
        *out = v
            .parse()
            .ok()
            .filter(|x: &f32| x.is_finite())
            .ok_or_else(|| bad(key, "a number", v))?;
    }
    Ok(())
}

/// A query component with `+` as space and `%XX` escapes decoded.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| {
            b.get(j..j + 2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        };
        match (b[i], hex(i + 1)) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_takes_the_mlp_the_cnn_and_vits() {
        for m in ["mlp", "cnn", "vit-2-64-4-p7", "vit-tiny"] {
            let s = Settings::from_query(&format!("model={m}")).unwrap();
            assert_eq!(s.model, m);
        }
        for m in ["resnet20", "vit-2-64-4", "vit-2-64-4-p0"] {
            let e = Settings::from_query(&format!("model={m}"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("mlp, cnn or a ViT such as vit-2-64-4-p7"),
                "{m}: {e}"
            );
        }
    }

    #[test]
    fn no_wd_1d_goes_to_every_run() {
        for (q, want) in [("", false), ("no-wd-1d", true), ("no-wd-1d=1", true)] {
            let s = Settings::from_query(&format!("optimizers=sgd,sam,sampa&{q}")).unwrap();
            assert_eq!(s.no_wd_1d, want, "{q}");
            assert!(s.optimizers.iter().all(|o| o.no_wd_1d == want), "{q}");
        }
        let e = Settings::from_query("no-wd-1d=yes")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no-wd-1d") && e.contains("1 or true"), "{e}");
    }

    #[test]
    fn the_page_takes_a_base_optimizer_and_refuses_sgds_momentum_with_adam() {
        let s =
            Settings::from_query("base=adamw&betas=0.9,0.98&eps=1e-6&lr=0.001&wd=0.05").unwrap();
        assert_eq!(s.base.kind, BaseKind::AdamW);
        assert!(s.optimizers.iter().all(|o| o.base == BaseKind::AdamW));
        let BaseHyper::Adam(h) = s.hyper() else {
            panic!("AdamW's step takes Adam's hyper-parameters")
        };
        assert_eq!(
            (h.lr, h.betas, h.eps, h.weight_decay, h.decoupled),
            (0.001, [0.9, 0.98], 1e-6, 0.05, true)
        );
        let e = Settings::from_query("base=adam&momentum=0.9")
            .unwrap_err()
            .to_string();
        assert!(e.contains("momentum"), "{e}");
        let e = Settings::from_query("base=lion").unwrap_err().to_string();
        assert!(
            e.contains("base") && e.contains("sgd, adam or adamw"),
            "{e}"
        );
        let e = Settings::from_query("base=adam&betas=1,0.9")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--betas"), "{e}");
    }

    #[test]
    fn a_query_changes_only_what_it_names() {
        let s = Settings::from_query("?model=cnn&optimizers=sgd,sampa-0.5,sampa&lambda=0.3&lr=0.1")
            .unwrap();
        assert_eq!(s.model, "cnn");
        assert_eq!(s.lr, 0.1);
        let ids: Vec<String> = s.optimizers.iter().map(id).collect();
        assert_eq!(ids, ["sgd", "sampa-0.5", "sampa-0.3"]);
        assert_eq!((s.epochs, s.batch, s.seed), (3, 128, 0));
        assert_eq!(Settings::from_query("").unwrap(), Settings::default());
    }

    #[test]
    fn bad_settings_name_the_parameter() {
        for (q, want) in [
            ("lr=-1", "lr=-1"),
            ("batch=0", "batch=0"),
            ("optimizers=adam", "optimizers=adam"),
            ("schedule=dual", "schedule=dual"),
            ("colour=red", "\"colour\""),
            ("lambda=2", "--lambda"),
            ("vasso-theta=2", "--vasso-theta"),
            ("m-sharpness=0", "m-sharpness=0"),
            ("optimizers=looksam&looksam-k=0", "looksam-k=0"),
            ("optimizers=esam&esam-gamma=0", "--esam-gamma"),
            (
                "batch=32&m-sharpness=12",
                "m-sharpness=12: expected a divisor of batch 32",
            ),
            ("hidden=256,x", "hidden=256,x"),
        ] {
            let e = Settings::from_query(q).unwrap_err().to_string();
            assert!(e.contains(want), "{q}: {e}");
        }
    }

    #[test]
    fn vasso_theta_goes_to_the_optimizers_that_perturb_along_a_gradient() {
        let s = Settings::from_query("optimizers=sgd,sam,sampa,gsam&vasso-theta=0.4").unwrap();
        let thetas: Vec<Option<f32>> = s.optimizers.iter().map(|o| o.vasso_theta).collect();
        assert_eq!(thetas, [None, Some(0.4), Some(0.4), None]);
        assert_eq!(s.optimizers[3].kind, OptimizerKind::Gsam);
        let q = "optimizers=looksam,aesam,esam,gsam&looksam-k=3&aesam-c1=2&esam-gamma=0.25";
        let s = Settings::from_query(q).unwrap();
        let o = &s.optimizers;
        assert_eq!((o[0].looksam_k, o[1].aesam_c1), (Some(3), Some(2.0)));
        assert_eq!((o[2].esam_gamma, o[3].gsam_alpha), (Some(0.25), None));
        assert_eq!(s.variants.len(), 3);
        let s = Settings::from_query("optimizers=sgd,sam,sampa&batch=32&m-sharpness=8").unwrap();
        let groups: Vec<Option<usize>> = s.optimizers.iter().map(|o| o.m_sharpness).collect();
        assert_eq!(groups, [None, Some(8), Some(8)]);
    }

    #[test]
    fn escapes_are_decoded() {
        assert_eq!(decode("a%2Cb+c%zz"), "a,b c%zz");
    }
}
