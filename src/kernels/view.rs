//! Views: a contiguous run of elements inside a buffer, possibly replicated side by side.

use crate::error::{Error, Result};
use crate::gpu::GpuBuf;

/// A contiguous run of elements inside a buffer: a tensor inside the flat parameter vector,
/// or a whole activation buffer.
#[derive(Debug, Clone, Copy)]
pub struct View<'a, T = f32> {
    /// The buffer.
    pub buf: &'a GpuBuf<T>,
    /// First element.
    pub offset: usize,
    /// Number of elements.
    pub len: usize,
    /// How many copies of the view lie side by side in the buffer (1 unless replicated):
    /// a replicated kernel dispatch processes them all, one per grid z index.
    pub replicas: usize,
    /// Elements from the start of one replica to the start of the next.
    pub stride: usize,
}

impl<T> GpuBuf<T> {
    /// The whole buffer as a view.
    pub fn view(&self) -> View<'_, T> {
        View {
            buf: self,
            offset: 0,
            len: self.len,
            replicas: 1,
            stride: 0,
        }
    }

    /// The buffer as `count` equal replicas side by side (a fused evaluator's workspace).
    pub fn replicas(&self, count: usize) -> View<'_, T> {
        let count = count.max(1);
        let len = self.len / count;
        View {
            buf: self,
            offset: 0,
            len,
            replicas: count,
            stride: len,
        }
    }

    /// Elements `offset..offset + len`; an error if that runs past the end.
    pub fn slice(&self, offset: usize, len: usize) -> Result<View<'_, T>> {
        if offset + len > self.len {
            return Err(Error::shape(
                "slice",
                format!(
                    "elements {offset}..{} lie outside a buffer of {}",
                    offset + len,
                    self.len
                ),
            ));
        }
        Ok(View {
            buf: self,
            offset,
            len,
            replicas: 1,
            stride: 0,
        })
    }
}

impl<'a, T> View<'a, T> {
    /// This view and `count - 1` more, each `stride` elements after the one before; an error
    /// if the last runs past the end of the buffer.
    pub fn repeated(self, count: usize, stride: usize) -> Result<View<'a, T>> {
        let count = count.max(1);
        let end = self.offset + (count - 1) * stride + self.len;
        if end > self.buf.len || (count > 1 && stride < self.len) {
            return Err(Error::shape(
                "replicas",
                format!(
                    "{count} replicas of {} elements every {stride} from {} do not fit a \
                     buffer of {} without overlapping",
                    self.len, self.offset, self.buf.len
                ),
            ));
        }
        Ok(View {
            replicas: count,
            stride: if count > 1 { stride } else { 0 },
            ..self
        })
    }

    /// `(replicas, stride)`, for [`Replicas::of`].
    pub(crate) fn rep(&self) -> (usize, usize) {
        (self.replicas, self.stride)
    }

    /// Fail with a shape error unless this view holds at least `need` elements.
    pub(crate) fn expect_len(&self, op: &'static str, name: &str, need: usize) -> Result<()> {
        if self.len < need {
            return Err(Error::shape(
                op,
                format!("{name} needs {need} elements, got a view of {}", self.len),
            ));
        }
        Ok(())
    }
}

/// Check that every view has the positive length of the first and is a whole buffer (the
/// optimizer kernels' vectors); returns the length.
pub(crate) fn same_whole(op: &'static str, views: &[View<'_>]) -> Result<u32> {
    let n = views[0].len;
    if n == 0 || views.iter().any(|v| v.len != n) {
        let lens: Vec<usize> = views.iter().map(|v| v.len).collect();
        return Err(Error::shape(
            op,
            format!("the vectors must have one positive length, got {lens:?}"),
        ));
    }
    if views.iter().any(|v| v.offset != 0) {
        return Err(Error::shape(op, "every vector must be a whole buffer"));
    }
    super::launch::as_u32(op, "n", n)
}
