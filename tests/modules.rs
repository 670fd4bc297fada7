#![cfg(not(target_arch = "wasm32"))]
//! No import cycles between the modules of `src/`: a source-level check that reads every
//! file, resolves the module paths it names (`use` trees and inline `crate::`, `super::`,
//! `self::` and child-module paths) to the files that define those modules, and looks for
//! strongly connected components in the resulting graph, once between files and once between
//! the library's top-level modules. Declaring a submodule (`mod x;`) is not an import;
//! re-exporting from it (`pub use x::Y`) is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`crate::kernels::sgd`) of every `.rs` file under `dir`, with its source.
fn files(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(root, &path, out);
        } else if path.extension().and_then(|e| e.to_str()) == Some("rs") {
            out.insert(
                module_of(root, &path),
                std::fs::read_to_string(&path).unwrap(),
            );
        }
    }
}

fn module_of(root: &Path, path: &Path) -> String {
    let rel: PathBuf = path.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    std::iter::once("crate".to_string())
        .chain(parts)
        .collect::<Vec<_>>()
        .join("::")
}

/// The source without comments and string literals, so paths in prose do not count.
fn code(source: &str) -> String {
    let mut out = String::new();
    for line in source.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        for (i, c) in line.char_indices() {
            if !in_str && c == '/' && line[i..].starts_with("//") {
                break;
            }
            if c == '"' && prev != '\\' && prev != '\'' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// Every path a `use` tree names, expanded: `a::{b, c::d}` gives `a::b` and `a::c::d`.
fn use_paths(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap().to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|s| !s.is_empty())
        .flat_map(|s| {
            use_paths(s)
                .into_iter()
                .map(move |p| format!("{prefix}{p}"))
        })
        .collect()
}

/// The module `path` (as written in module `from`) refers to: the longest prefix that is a
/// module of `known`; `root` is how the crate names itself (`crate`, or `sampa` in the
/// library's own tests, which this check does not read).
fn resolve(from: &str, path: &str, known: &BTreeSet<String>, root: &str) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = from.split("::").map(String::from).collect();
    match segs.first().copied()? {
        first if first == root => {
            base = vec!["crate".into()];
            segs.remove(0);
        }
        "self" => {
            segs.remove(0);
        }
        "super" => {
            while segs.first() == Some(&"super") {
                base.pop();
                segs.remove(0);
            }
        }
        first if known.contains(&format!("{from}::{first}")) => {}
        _ => return None,
    }
    let mut best = None;
    let mut cur = base.join("::");
    if known.contains(&cur) {
        best = Some(cur.clone());
    }
    for s in segs {
        cur = format!("{cur}::{s}");
        if known.contains(&cur) {
            best = Some(cur.clone());
        } else {
            break;
        }
    }
    best
}

/// Edges from each module to the modules it imports.
fn graph(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    // Paths into the library from the binary (`sampa::`) leave the binary's graph.
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (m, source) in modules {
        let src = code(source);
        let mut paths = Vec::new();
        for stmt in src.split(';') {
            let s = stmt.trim();
            let s = s
                .strip_prefix("pub(crate) ")
                .or(s.strip_prefix("pub "))
                .unwrap_or(s);
            if let Some(tree) = s.strip_prefix("use ") {
                paths.extend(use_paths(tree));
            }
        }
        // Inline paths: identifiers followed by `::`.
        let chars: Vec<char> = src.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let starts = chars[i].is_alphabetic()
                && (i == 0
                    || !(chars[i - 1].is_alphanumeric()
                        || chars[i - 1] == '_'
                        || chars[i - 1] == ':'));
            if starts {
                let mut j = i;
                while j < chars.len()
                    && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == ':')
                {
                    j += 1;
                }
                let p: String = chars[i..j].iter().collect();
                // `a::{...}` is a use group, read above.
                if p.contains("::") && !p.ends_with("::") {
                    paths.push(p);
                }
                i = j;
            } else {
                i += 1;
            }
        }
        let to: BTreeSet<String> = paths
            .iter()
            .filter_map(|p| resolve(m, p, &known, "crate"))
            .filter(|t| t != m)
            .collect();
        edges.insert(m.clone(), to);
    }
    edges
}

/// Strongly connected components with more than one member (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                t.low.insert(v, t.low[v].min(t.low[w]));
            } else if t.on.contains(w) {
                t.low.insert(v, t.low[v].min(t.index[w]));
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// The graph between top-level modules (`crate::kernels`), from the file graph.
fn top_level(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").take(2).collect::<Vec<_>>().join("::");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in edges {
        let entry = out.entry(top(from)).or_default();
        entry.extend(
            to.iter()
                .map(|t| top(t))
                .filter(|t| *t != top(from) && t != "crate"),
        );
    }
    out
}

#[test]
fn no_module_imports_itself_through_others() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = BTreeMap::new();
    files(&root, &root, &mut all);
    // The binary (main.rs and cli/) is a crate of its own over the library.
    let (bin, lib): (BTreeMap<_, _>, BTreeMap<_, _>) = all
        .into_iter()
        .partition(|(m, s)| m.starts_with("crate::cli") || (m == "crate" && s.contains("fn main")));
    let lib_edges = graph(&lib);
    let bin_edges = graph(&bin);
    let n: usize = lib_edges.values().map(BTreeSet::len).sum();
    eprintln!(
        "{} library files, {n} imports between them",
        lib_edges.len()
    );
    for (what, edges) in [("library files", &lib_edges), ("binary files", &bin_edges)] {
        let found = cycles(edges);
        assert!(found.is_empty(), "import cycles between {what}: {found:?}");
    }
    let top = top_level(&lib_edges);
    eprintln!("top-level modules: {:?}", top.keys().collect::<Vec<_>>());
    let found = cycles(&top);
    assert!(
        found.is_empty(),
        "import cycles between top-level modules: {found:?}"
    );
}

#[test]
fn the_checker_finds_a_cycle_it_is_shown() {
    // A cycle through a parent's re-export, as `train::schedule → bench → train` was.
    let m = |s: &[(&str, &str)]| {
        s.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let modules: BTreeMap<String, String> = m(&[
        ("crate", "pub mod a; pub mod b;"),
        ("crate::a", "mod x; pub use x::X; fn f() { crate::b::g() }"),
        ("crate::a::x", "pub struct X;"),
        ("crate::b", "use super::a::X; pub fn g() {}"),
    ]);
    let found = cycles(&graph(&modules));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(cycles(&top_level(&graph(&modules))).len() == 1);
    let paths = use_paths("super::{dispatch::Dispatch, launch::{Bind, build}}");
    assert_eq!(
        paths,
        [
            "super::dispatch::Dispatch",
            "super::launch::Bind",
            "super::launch::build"
        ]
    );
}
