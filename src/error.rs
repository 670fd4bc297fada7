//! The library's error type. Every message says what was wrong and what to do about it.

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Text appended wherever the fix is "get an adapter".
pub const GET_ADAPTER_HINT: &str = "to get a WebGPU adapter without a GPU, install Mesa's CPU \
     Vulkan driver (`apt-get install mesa-vulkan-drivers`); on a machine with a GPU, install its \
     Vulkan, Metal or DX12 driver";

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter at all on any backend.
    #[error("no WebGPU adapter found on any backend; {GET_ADAPTER_HINT}")]
    NoAdapter,
    /// An adapter selection (flag or environment variable) matched nothing.
    #[error(
        "no adapter matches {spec:?} (from {origin}); available: {available}. Select one by \
         index, backend (vulkan, gl, metal, dx12) or name substring, as listed by `sampa \
         devices`; if the list is empty, {GET_ADAPTER_HINT}"
    )]
    AdapterNotFound {
        /// The selection as given.
        spec: String,
        /// Where it came from (a flag or an environment variable).
        origin: String,
        /// The adapters that do exist, one short description each.
        available: String,
    },
    /// Operands whose shapes do not fit together, or buffers too small for the stated shape.
    #[error("{op}: {detail}")]
    Shape {
        /// The operation that rejected its input.
        op: &'static str,
        /// What was expected and what was given.
        detail: String,
    },
    /// A buffer larger than the device allows.
    #[error(
        "{what} needs {bytes} bytes, more than {adapter} allows ({limit_name} = {limit} bytes); \
         use a smaller model or batch, or an adapter with larger limits"
    )]
    TooLarge {
        /// What the buffer was for.
        what: String,
        /// Its size in bytes.
        bytes: u64,
        /// The device limit it exceeds.
        limit: u64,
        /// The name of that limit.
        limit_name: &'static str,
        /// The adapter's name.
        adapter: String,
    },
    /// The device could not be created.
    #[error("could not open a device on {adapter}: {message}")]
    Device {
        /// The adapter's name.
        adapter: String,
        /// The driver's message.
        message: String,
    },
    /// A validation or runtime error reported by wgpu.
    #[error("GPU error while {context}: {message}")]
    Gpu {
        /// What the library was doing.
        context: String,
        /// wgpu's message.
        message: String,
    },
    /// A data file or directory that cannot be used.
    #[error("{path}: {message}")]
    Data {
        /// The file or directory.
        path: String,
        /// What was wrong, what was expected, and what to do.
        message: String,
    },
    /// Another process of the run (an MPI rank) failed, or the transfer to it did.
    #[error("{what}: {message}")]
    Peer {
        /// What was being done, naming the rank.
        what: String,
        /// What went wrong.
        message: String,
    },
    /// An invalid argument that is not a shape (a negative rate, an empty list ...).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// A data error about `path`.
    pub fn data(path: impl AsRef<std::path::Path>, message: impl Into<String>) -> Self {
        Error::Data {
            path: path.as_ref().display().to_string(),
            message: message.into(),
        }
    }

    /// A shape error for `op`.
    pub fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Shape {
            op,
            detail: detail.into(),
        }
    }
}
