//! Every kernel's uniform layout as Rust lays it out, in one list, so `tests/shaders.rs` can
//! check each against naga's reflection of the WGSL struct and validate every shader source.

use super::layout::UniformLayout;
use super::{
    bias, conv, matmul, maxpool, membench, norm, perturb, relu, sgd, softmax_xent, transpose,
    vector,
};

/// The uniform layouts of every kernel (each shader source appears at least once).
pub fn all() -> Vec<UniformLayout> {
    [
        bias::uniform_layouts(),
        conv::uniform_layouts(),
        matmul::uniform_layouts(),
        maxpool::uniform_layouts(),
        membench::uniform_layouts(),
        norm::uniform_layouts(),
        perturb::uniform_layouts(),
        relu::uniform_layouts(),
        sgd::uniform_layouts(),
        softmax_xent::uniform_layouts(),
        transpose::uniform_layouts(),
        vector::uniform_layouts(),
    ]
    .concat()
}
