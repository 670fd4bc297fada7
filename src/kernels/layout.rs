//! How Rust lays out a kernel's uniform block, so a test can hold it against naga's reflection
//! of the WGSL struct (`super::uniforms`): the bytes the host writes must land on the fields
//! the shader reads.

/// One uniform struct's size and field offsets, as Rust lays it out.
#[derive(Clone, Debug)]
pub struct UniformLayout {
    /// The kernel, for messages.
    pub kernel: &'static str,
    /// The whole WGSL source the struct is declared in.
    pub source: &'static str,
    /// The struct's name in WGSL.
    pub wgsl_struct: &'static str,
    /// Bytes, as the host writes them (with the replica block, when the kernel has one).
    pub size: usize,
    /// Field names and byte offsets, in order.
    pub fields: Vec<(&'static str, usize)>,
}

impl UniformLayout {
    /// The block with its nested `epilogue` field (a struct of u32 fields `names`, which WGSL
    /// declares flat, such as a matmul's epilogue) replaced by those fields.
    pub fn with_epilogue(mut self, names: &[&'static str]) -> Self {
        if let Some(i) = self.fields.iter().position(|f| f.0 == "epilogue") {
            let at = self.fields.remove(i).1;
            for (j, name) in names.iter().enumerate() {
                self.fields.insert(i + j, (name, at + 4 * j));
            }
        }
        self
    }

    /// The same block followed by the replica strides `rs: vec4<u32>` at the next 16-byte
    /// boundary, as `super::launch::build` appends them for layer kernels.
    pub fn replicated(mut self) -> Self {
        let at = self.size.next_multiple_of(16);
        self.fields.push(("rs", at));
        self.size = at + 16;
        self
    }
}

/// `uniform_layout!(kernel, source, "WgslName", RustType { field, ... })`.
macro_rules! uniform_layout {
    ($kernel:expr, $source:expr, $wgsl:expr, $ty:ty { $($field:ident),* $(,)? }) => {
        $crate::kernels::layout::UniformLayout {
            kernel: $kernel,
            source: $source,
            wgsl_struct: $wgsl,
            size: ::std::mem::size_of::<$ty>(),
            fields: vec![$((stringify!($field), ::std::mem::offset_of!($ty, $field))),*],
        }
    };
}
pub(crate) use uniform_layout;
