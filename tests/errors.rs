#![cfg(not(target_arch = "wasm32"))]
//! Bad input gives an error value that says what was wrong, never a panic.

mod common;

use common::gpus;
use sampa::Error;
use sampa::kernels::matmul::{self, Dims, Form, Variant};
use sampa::kernels::{bias, norm, relu, softmax_xent, vector};

#[test]
fn matmul_rejects_mismatched_shapes() {
    for gpu in &gpus() {
        let a = gpu.zeros::<f32>(6, "A").unwrap();
        let b = gpu.zeros::<f32>(12, "B").unwrap();
        let c = gpu.zeros::<f32>(8, "C").unwrap();
        for variant in Variant::on(gpu) {
            // A is 2×3 but the call claims k = 4.
            let dims = Dims { m: 2, n: 4, k: 4 };
            let err = matmul::prepare(
                gpu,
                variant,
                Form::AB,
                dims,
                a.view(),
                b.view(),
                c.view(),
                false,
            )
            .unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::Shape { op: "matmul", .. }), "{msg}");
            assert!(
                msg.contains("A (2×4") && msg.contains("needs 8 elements, got a view of 6"),
                "{msg}"
            );
            let zero = Dims { m: 0, n: 4, k: 3 };
            let err = matmul::prepare(
                gpu,
                variant,
                Form::AB,
                zero,
                a.view(),
                b.view(),
                c.view(),
                false,
            )
            .unwrap_err();
            assert!(
                err.to_string().contains("dimensions must be positive"),
                "{err}"
            );
            let dims = Dims { m: 2, n: 3, k: 3 };
            let err = matmul::prepare(
                gpu,
                variant,
                Form::AB,
                dims,
                a.view(),
                b.view(),
                a.view(),
                false,
            )
            .unwrap_err();
            assert!(err.to_string().contains("must not share a buffer"), "{err}");
        }
        assert!(
            a.slice(4, 3)
                .unwrap_err()
                .to_string()
                .contains("outside a buffer of 6")
        );
    }
}

#[test]
fn other_kernels_reject_bad_shapes() {
    for gpu in &gpus() {
        let x = gpu.zeros::<f32>(10, "x").unwrap();
        let y = gpu.zeros::<f32>(9, "y").unwrap();
        let labels = gpu.zeros::<u32>(2, "labels").unwrap();
        let metrics = gpu.zeros::<f32>(2, "metrics").unwrap();
        let shape = bias::BiasShape {
            outer: 2,
            channels: 5,
            inner: 1,
        };
        let errors = [
            vector::prepare_axpy(gpu, 1.0, x.view(), y.view()).unwrap_err(),
            relu::prepare_forward(gpu, 10, x.view(), y.view()).unwrap_err(),
            bias::prepare_add(gpu, shape, y.slice(0, 4).unwrap(), x.view()).unwrap_err(),
            norm::prepare(gpu, sampa::kernels::VectorForm::Storage, x.view(), x.view())
                .unwrap_err(),
            softmax_xent::prepare(
                gpu,
                3,
                3,
                0.0,
                y.view(),
                labels.view(),
                x.view(),
                (metrics.view(), x.slice(0, 3).unwrap()),
                true,
            )
            .unwrap_err(),
            softmax_xent::prepare(
                gpu,
                2,
                3,
                1.5,
                x.view(),
                labels.view(),
                y.view(),
                (metrics.view(), x.slice(0, 4).unwrap()),
                true,
            )
            .unwrap_err(),
        ];
        for e in &errors {
            eprintln!("{e}");
            assert!(
                matches!(e, Error::Shape { .. } | Error::Invalid(_)),
                "{e:?}"
            );
        }
    }
}

#[test]
fn a_buffer_larger_than_the_device_allows_is_an_error() {
    for gpu in &gpus() {
        let too_many = (gpu.limits.max_buffer_size / 4 + 1) as usize;
        let err = gpu.zeros::<f32>(too_many, "huge activations").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::TooLarge { .. }), "{msg}");
        assert!(
            msg.contains("huge activations") && msg.contains("max_buffer_size"),
            "{msg}"
        );
        let over_binding = (gpu.limits.max_storage_buffer_binding_size / 4 + 1) as usize;
        if (over_binding * 4) as u64 <= gpu.limits.max_buffer_size {
            let err = gpu.zeros::<f32>(over_binding, "big tensor").unwrap_err();
            assert!(
                err.to_string().contains("max_storage_buffer_binding_size"),
                "{err}"
            );
        }
    }
}

#[test]
fn an_adapter_name_that_does_not_exist_is_an_error() {
    let err =
        pollster::block_on(sampa::Gpu::open(Some("no-such-adapter-xyz"), "--adapter")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::AdapterNotFound { .. }), "{msg}");
    assert!(
        msg.contains("no-such-adapter-xyz") && msg.contains("--adapter"),
        "{msg}"
    );
    assert!(
        msg.contains("available: #0"),
        "the message lists what exists: {msg}"
    );
    let err = pollster::block_on(sampa::Gpu::open(Some("#99"), "--adapter")).unwrap_err();
    assert!(matches!(err, Error::AdapterNotFound { .. }), "{err}");
}

#[test]
fn gpu_tests_fail_with_instructions_when_no_adapter_matches() {
    let err = sampa::gpu::testing::test_gpus_for(Some("no-such-adapter-xyz")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("SAMPA_ADAPTER"), "{msg}");
    assert!(msg.contains("apt-get install mesa-vulkan-drivers"), "{msg}");
    let none = Error::NoAdapter.to_string();
    assert!(
        none.contains("apt-get install mesa-vulkan-drivers"),
        "{none}"
    );
}
