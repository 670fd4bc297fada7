#![cfg(not(target_arch = "wasm32"))]
//! Every shader source the kernels compile parses and validates with naga, independent of any
//! adapter; every WGSL file explains its layout and indexing in prose before the code; and
//! every uniform block the host writes matches the WGSL struct the shader reads, field by
//! field, as naga lays it out.

use sampa::kernels::{layout as uniforms_layout, uniforms};
use std::path::{Path, PathBuf};

fn parse(kernel: &str, source: &str) -> naga::Module {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{kernel} does not parse:\n{}", e.emit_to_string(source)));
    // Only the subgroup matmul may use subgroup operations (its device has the feature).
    let mut caps = naga::valid::Capabilities::default();
    if kernel == "matmul_subgroup" {
        caps |= naga::valid::Capabilities::SUBGROUP;
    }
    let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
    validator
        .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
        .subgroup_operations(naga::valid::SubgroupOperationSet::all());
    if let Err(e) = validator.validate(&module) {
        panic!("{kernel} does not validate:\n{}", e.emit_to_string(source));
    }
    assert!(
        !module.entry_points.is_empty(),
        "{kernel} has no entry point"
    );
    module
}

#[test]
fn every_shader_source_parses_and_validates() {
    let mut seen = Vec::new();
    for l in uniforms::all() {
        if seen.contains(&l.source.as_ptr()) {
            continue;
        }
        seen.push(l.source.as_ptr());
        parse(l.kernel, l.source);
    }
    eprintln!("validated {} shader sources", seen.len());
    assert!(
        seen.len() >= 17,
        "expected every kernel's forms, found {}",
        seen.len()
    );
}

fn wgsl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/kernels exists") {
        let path = entry.unwrap().path();
        if path.is_dir() {
            wgsl_files(&path, out);
        } else if path.extension().and_then(|e| e.to_str()) == Some("wgsl") {
            out.push(path);
        }
    }
}

#[test]
fn every_wgsl_file_opens_with_prose_on_its_layout_and_indexing() {
    let mut files = Vec::new();
    wgsl_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/kernels"),
        &mut files,
    );
    for path in &files {
        let source = std::fs::read_to_string(path).unwrap();
        let prose = source.lines().take_while(|l| l.starts_with("//")).count();
        assert!(
            prose >= 3,
            "{} should open with a prose comment on its layout and indexing",
            path.display()
        );
    }
    assert!(files.len() >= 20, "found only {files:?}");
}

/// Name and byte offset of each non-padding member of WGSL struct `name`, and its size.
fn wgsl_struct(module: &naga::Module, name: &str) -> (Vec<(String, usize)>, usize) {
    let (_, ty) = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no struct {name}"));
    let naga::TypeInner::Struct { members, span } = &ty.inner else {
        panic!("{name} is not a struct");
    };
    let fields = members
        .iter()
        .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
        .filter(|(n, _)| !n.starts_with('_'))
        .collect();
    (fields, *span as usize)
}

/// How `l` differs from its WGSL struct, if it does.
fn mismatch(l: &uniforms_layout::UniformLayout) -> Option<String> {
    let module = parse(l.kernel, l.source);
    let (want, span) = wgsl_struct(&module, l.wgsl_struct);
    let got: Vec<(String, usize)> = l
        .fields
        .iter()
        .filter(|(n, _)| !n.starts_with('_'))
        .map(|(n, o)| (n.to_string(), *o))
        .collect();
    if got != want {
        return Some(format!(
            "{}: Rust fields {got:?}, WGSL {} {want:?}",
            l.kernel, l.wgsl_struct
        ));
    }
    (l.size != span).then(|| {
        format!(
            "{}: Rust writes {} bytes, WGSL reads {span}",
            l.kernel, l.size
        )
    })
}

#[test]
fn every_uniform_block_matches_its_wgsl_struct() {
    let all = uniforms::all();
    let wrong: Vec<String> = all.iter().filter_map(mismatch).collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    eprintln!("{} uniform blocks match their WGSL structs", all.len());
    // The check sees a field moved or a block cut short.
    let mut moved = all[0].clone();
    moved.fields[1].1 += 4;
    assert!(mismatch(&moved).is_some());
    let mut short = all[0].clone();
    short.size -= 16;
    assert!(mismatch(&short).is_some());
}
