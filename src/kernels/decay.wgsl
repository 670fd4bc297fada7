// Weight decay's mask (`--no-wd-1d`; the host side is src/kernels/decay.rs), which the
// optimizer kernels (sgd/prelude.wgsl, adam/adam.wgsl) read after this file: one bit per
// element of the parameter vector, set where weight decay applies, element i being bit i % 32
// of word i / 32. The kernels work a vec4 at a time, and vec4 e (elements 4e..4e+3) lies in
// word e / 8, at bits 4 (e % 8) to 4 (e % 8) + 3; a kernel passes that word here. Without a
// mask a kernel never reads one and every element decays.

// The weight decay of vec4 e's four elements, from the mask word that holds them: wd where the
// element's bit is set, 0 where it is not (0 · x is exactly 0, so an exempt element's update
// is the one it would take with no decay at all).
fn masked_decay(word: u32, e: u32, wd: f32) -> vec4<f32> {
    let bits = vec4<u32>(word >> (4u * (e & 7u))) >> vec4<u32>(0u, 1u, 2u, 3u);
    return select(vec4<f32>(0.0), vec4<f32>(wd), (bits & vec4<u32>(1u)) != vec4<u32>(0u));
}
