//! The window copy against its reference on every adapter, with two replicas: exact, since it
//! only moves values.

use super::{Window, prepare_copy, reference_copy};
use crate::gpu::testing::gpus;
use crate::rng::Pcg;

#[test]
fn copy_window_moves_exactly_the_window() {
    let (m, c) = (37, 8);
    let (from, to) = (
        Window {
            width: 12,
            first: 4,
        },
        Window {
            width: 20,
            first: 8,
        },
    );
    let mut rng = Pcg::new(7, 7);
    let src0 = rng.vec(2 * m * from.width, -1.0, 1.0);
    let dst0 = rng.vec(2 * m * to.width, -1.0, 1.0);
    let mut want = dst0.clone();
    let (sl, dl) = (m * from.width, m * to.width);
    for r in 0..2 {
        let (s, d) = (&src0[r * sl..(r + 1) * sl], &mut want[r * dl..(r + 1) * dl]);
        reference_copy((m, c), (s, from), (d, to));
    }
    assert_ne!(want, dst0, "the copy changes something");
    for gpu in &gpus() {
        let src = gpu.upload(&src0, "src").unwrap();
        let dst = gpu.upload(&dst0, "dst").unwrap();
        let copy = prepare_copy(gpu, (m, c), (src.replicas(2), from), (dst.replicas(2), to));
        gpu.run(&[&copy.unwrap()]).unwrap();
        assert_eq!(gpu.read(&dst).unwrap(), want, "{}", gpu.adapter.name);
    }
    // A window past the row is an error.
    let gpu = &gpus()[0];
    let buf = gpu.zeros::<f32>(m * 12, "buf").unwrap();
    let bad = Window {
        width: 12,
        first: 8,
    };
    let err = prepare_copy(
        gpu,
        (m, c),
        (buf.view(), bad),
        (buf.view(), Window::whole(12)),
    );
    assert!(
        err.expect_err("bad window")
            .to_string()
            .contains("do not lie")
    );
}
