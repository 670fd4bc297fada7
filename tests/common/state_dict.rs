//! What a model file holds, as a PyTorch `state_dict` lists it: names, shapes and dtypes,
//! for comparing sampa's layouts with the PyTorch code they follow.

use sampa::nn::Model;

/// A tensor as PyTorch saves it: name, shape and safetensors dtype.
pub type Entry = (String, Vec<usize>, &'static str);

/// A `BatchNorm2d(c)` called `prefix` in a `state_dict`: its parameters, then its buffers.
pub fn batchnorm(prefix: &str, c: usize) -> Vec<Entry> {
    [
        ("weight", vec![c], "F32"),
        ("bias", vec![c], "F32"),
        ("running_mean", vec![c], "F32"),
        ("running_var", vec![c], "F32"),
        ("num_batches_tracked", vec![], "I64"),
    ]
    .into_iter()
    .map(|(name, shape, dtype)| (format!("{prefix}.{name}"), shape, dtype))
    .collect()
}

/// The names, shapes and dtypes of a written model file, sorted.
pub fn written(m: &Model) -> Vec<Entry> {
    use sampa::nn::weights;
    let mut tensors = weights::model_tensors(m, &m.init(0));
    tensors.extend(weights::state_tensors(m, &m.init_state()));
    let bytes = weights::serialize(&tensors, None).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut got: Vec<(String, Vec<usize>, &str)> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            let dtype = match t.dtype() {
                safetensors::Dtype::F32 => "F32",
                safetensors::Dtype::I64 => "I64",
                other => panic!("{name}: unexpected dtype {other:?}"),
            };
            (name, t.shape().to_vec(), dtype)
        })
        .collect();
    got.sort();
    got
}

/// A fixture of `scripts/state-dict-fixtures`: PyTorch's parameter count and `state_dict`
/// entries for `kind`, sorted.
pub fn fixture(kind: &str) -> (usize, Vec<Entry>) {
    let path = format!(
        "{}/tests/fixtures/state_dicts/{kind}.tsv",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines();
    let params = lines
        .next()
        .and_then(|l| l.strip_prefix("# parameters "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{path}: no parameter count"));
    let mut entries: Vec<Entry> = lines
        .map(|l| {
            let [name, shape, dtype] = l.split('\t').collect::<Vec<_>>()[..] else {
                panic!("{path}: bad line {l:?}")
            };
            let shape = shape.split(',').filter(|d| !d.is_empty());
            let dtype = if dtype == "I64" { "I64" } else { "F32" };
            (
                name.to_string(),
                shape.map(|d| d.parse().unwrap()).collect(),
                dtype,
            )
        })
        .collect();
    entries.sort();
    (params, entries)
}
