#![cfg(not(target_arch = "wasm32"))]
//! Every WGSL file in `shaders/` parses and validates with naga, independent of any adapter,
//! and every file explains its indexing in prose before the code.

use std::path::Path;

#[test]
fn every_shader_parses_and_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("shaders/ exists") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let module = naga::front::wgsl::parse_str(&source).unwrap_or_else(|e| {
            panic!(
                "{} does not parse:\n{}",
                path.display(),
                e.emit_to_string(&source)
            )
        });
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        );
        if let Err(e) = validator.validate(&module) {
            panic!(
                "{} does not validate:\n{}",
                path.display(),
                e.emit_to_string(&source)
            );
        }
        assert!(
            !module.entry_points.is_empty(),
            "{} has no entry point",
            path.display()
        );
        let prose = source.lines().take_while(|l| l.starts_with("//")).count();
        assert!(
            prose >= 3,
            "{} should open with a prose comment on its layout and indexing",
            path.display()
        );
        checked.push(path.file_name().unwrap().to_string_lossy().to_string());
    }
    checked.sort();
    eprintln!(
        "validated {} shaders: {}",
        checked.len(),
        checked.join(", ")
    );
    assert!(
        checked.len() >= 10,
        "expected every kernel family, found {checked:?}"
    );
}
