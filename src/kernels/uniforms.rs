//! Every kernel's uniform layout as Rust lays it out, in one list, so `tests/shaders.rs` can
//! check each against naga's reflection of the WGSL struct and validate every shader source.

use super::layout::UniformLayout;
use super::{
    adam, attention, avgpool, batchnorm, bias, channels, clip, combine, conv, dropout, embedding,
    gelu, layernorm, matmul, maxpool, membench, mse, norm, perturb, relu, residual, sgd,
    softmax_xent, tanh, tokens, transpose, vector,
};

/// The uniform layouts of every kernel (each shader source appears at least once).
pub fn all() -> Vec<UniformLayout> {
    [
        adam::uniform_layouts(),
        attention::uniform_layouts(),
        avgpool::uniform_layouts(),
        batchnorm::uniform_layouts(),
        bias::uniform_layouts(),
        channels::uniform_layouts(),
        clip::uniform_layouts(),
        combine::uniform_layouts(),
        conv::uniform_layouts(),
        dropout::uniform_layouts(),
        embedding::uniform_layouts(),
        gelu::uniform_layouts(),
        layernorm::uniform_layouts(),
        matmul::uniform_layouts(),
        maxpool::uniform_layouts(),
        membench::uniform_layouts(),
        mse::uniform_layouts(),
        norm::uniform_layouts(),
        perturb::uniform_layouts(),
        relu::uniform_layouts(),
        residual::uniform_layouts(),
        sgd::uniform_layouts(),
        softmax_xent::uniform_layouts(),
        tanh::uniform_layouts(),
        tokens::uniform_layouts(),
        transpose::uniform_layouts(),
        vector::uniform_layouts(),
    ]
    .concat()
}

/// The browser build's WGSL sources, which `build.rs` writes without comments: each parses and
/// validates (after its folder's prelude, where it has one), and there is one for every source
/// under `src/kernels`.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod stripped {
    use std::path::{Path, PathBuf};

    fn wgsl_files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
            if entry.is_dir() {
                out.extend(wgsl_files(&entry));
            } else if entry.extension().is_some_and(|e| e == "wgsl") {
                out.push(entry);
            }
        }
        out
    }

    #[test]
    fn every_stripped_source_validates() {
        let stripped = wgsl_files(&Path::new(env!("OUT_DIR")).join("wgsl"));
        let originals = wgsl_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/kernels"));
        assert_eq!(stripped.len(), originals.len(), "{stripped:?}");
        for path in stripped {
            let mut text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains("//"), "{} keeps a comment", path.display());
            // Sources of a folder with a prelude compile after it, as the kernels concatenate.
            let prelude = path.with_file_name("prelude.wgsl");
            if prelude.is_file() && prelude != path {
                text = std::fs::read_to_string(prelude).unwrap() + &text;
            }
            // A source that follows others from elsewhere names them in its original's line
            // `// After: a.wgsl, b.wgsl` (paths under src/kernels), in the kernel's order.
            let root = Path::new(env!("OUT_DIR")).join("wgsl");
            let original = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src")
                .join(path.strip_prefix(&root).unwrap());
            let source = std::fs::read_to_string(&original).unwrap();
            if let Some(line) = source.lines().find_map(|l| l.strip_prefix("// After: ")) {
                let before: String = line
                    .split(',')
                    .map(|p| root.join("kernels").join(p.trim().trim_end_matches('.')))
                    .map(|p| std::fs::read_to_string(&p).unwrap_or_else(|_| panic!("{p:?}")))
                    .collect();
                text = before + &text;
            }
            let module = naga::front::wgsl::parse_str(&text)
                .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&text)));
            // Only the subgroup matmul may use subgroup operations.
            let mut caps = naga::valid::Capabilities::default();
            if path.ends_with("matmul/storage/subgroup.wgsl") {
                caps |= naga::valid::Capabilities::SUBGROUP;
            }
            let mut validator =
                naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
            validator
                .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
                .subgroup_operations(naga::valid::SubgroupOperationSet::all());
            if let Err(e) = validator.validate(&module) {
                panic!("{}: {}", path.display(), e.emit_to_string(&text));
            }
        }
    }
}
