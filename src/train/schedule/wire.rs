//! The bytes a [`Job`] and a [`Reply`] travel as between processes (`--schedule mpi`).
//!
//! Little-endian throughout. A job is `SJ6`, the step (u64), the dropout key (u32), the group
//! size (u64; 0 for the whole batch as one), the share by which a data-parallel worker weights
//! its synchronised BatchNorm sums (u8 1 and the f32, or u8 0 and four zero bytes), the point
//! (u64 length, then f32s), then its batch in one of two forms: `0` and the examples as drawn
//! (u64 count, then per example its index u32, crop shift i8 i8, flip u8, cutout: u8 1
//! with the square's corner i16 i16, or u8 0 and four zero bytes, and the seed of its random
//! resized crop u64, 0 for none), which the far end rebuilds
//! from its own copy of the data set; or `1` and the batch itself (u64 count, u64 pixel count,
//! the f32 pixels, the u32 labels), for a batch that did not come from a batcher (the previous
//! batch of a resumed run). A reply is `SR1`, the gradient (u64 length, f32s), the two metrics
//! (f32 f32) and the pass's state (u64 length, f32s).
//!
//! Decoding checks every length against the bytes that are there before it allocates, so a
//! damaged message is an error, never a panic or a huge allocation.

use super::transport::{Job, Reply};
use crate::data::{Batch, Drawn};
use crate::error::{Error, Result};

const JOB: &[u8; 3] = b"SJ6";
const REPLY: &[u8; 3] = b"SR1";
/// Bytes per drawn example.
const DRAWN: usize = 20;

/// `job` as bytes: its batch as the drawn list when it has one.
pub fn encode_job(job: &Job) -> Vec<u8> {
    let b = &job.batch;
    let mut out = Vec::with_capacity(32 + 4 * job.point.len() + DRAWN * b.drawn.len());
    out.extend_from_slice(JOB);
    put_u64(&mut out, job.step as u64);
    out.extend_from_slice(&job.dropout_key.to_le_bytes());
    put_u64(&mut out, job.group.unwrap_or(0) as u64);
    out.push(job.sync_share.is_some() as u8);
    out.extend_from_slice(&job.sync_share.unwrap_or(0.0).to_le_bytes());
    put_f32s(&mut out, &job.point);
    if !b.drawn.is_empty() {
        out.push(0);
        put_u64(&mut out, b.drawn.len() as u64);
        for d in &b.drawn {
            out.extend_from_slice(&d.index.to_le_bytes());
            out.extend_from_slice(&[d.shift.0 as u8, d.shift.1 as u8, d.flip as u8]);
            let (top, left) = d.cutout.unwrap_or((0, 0));
            out.push(d.cutout.is_some() as u8);
            out.extend_from_slice(&top.to_le_bytes());
            out.extend_from_slice(&left.to_le_bytes());
            out.extend_from_slice(&d.crop.to_le_bytes());
        }
    } else {
        out.push(1);
        put_u64(&mut out, b.labels.len() as u64);
        put_f32s(&mut out, &b.pixels);
        for l in &b.labels {
            out.extend_from_slice(&l.to_le_bytes());
        }
    }
    out
}

/// The job in `bytes`. A batch sent as its drawn list comes back with only `drawn` filled:
/// the receiver rebuilds its pixels ([`crate::data::Batcher::rebuild`]).
pub fn decode_job(bytes: &[u8]) -> Result<Job> {
    let mut r = Reader::new(bytes, JOB, "job")?;
    let step = r.u64()? as usize;
    let key = r.take(4)?;
    let dropout_key = u32::from_le_bytes([key[0], key[1], key[2], key[3]]);
    let group = match r.u64()? {
        0 => None,
        m => Some(usize::try_from(m).map_err(|_| r.bad(format!("has group size {m}")))?),
    };
    let share = r.take(5)?;
    let sync_share = match share[0] {
        0 => None,
        1 => Some(f32::from_le_bytes([share[1], share[2], share[3], share[4]])),
        flag => return Err(r.bad(format!("has an unknown share flag {flag}"))),
    };
    let point = r.f32s()?;
    let batch = match r.take(1)?[0] {
        0 => {
            let count = r.count(DRAWN)?;
            let mut drawn = Vec::with_capacity(count);
            for _ in 0..count {
                let e = r.take(DRAWN)?;
                let corner = (
                    i16::from_le_bytes([e[8], e[9]]),
                    i16::from_le_bytes([e[10], e[11]]),
                );
                drawn.push(Drawn {
                    index: u32::from_le_bytes([e[0], e[1], e[2], e[3]]),
                    shift: (e[4] as i8, e[5] as i8),
                    flip: e[6] != 0,
                    cutout: (e[7] != 0).then_some(corner),
                    crop: u64::from_le_bytes(e[12..20].try_into().expect("8 bytes")),
                });
            }
            Batch {
                drawn,
                ..Batch::default()
            }
        }
        1 => {
            let count = r.count(4)?;
            let pixels = r.f32s()?;
            let labels = r
                .take(4 * count)?
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Batch {
                pixels,
                labels,
                drawn: Vec::new(),
            }
        }
        form => return Err(r.bad(format!("has an unknown batch form {form}"))),
    };
    r.end()?;
    Ok(Job {
        step,
        point,
        batch,
        dropout_key,
        group,
        sync_share,
    })
}

/// `reply` as bytes.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 4 * (reply.grad.len() + reply.state.len()));
    out.extend_from_slice(REPLY);
    put_f32s(&mut out, &reply.grad);
    for m in reply.metrics {
        out.extend_from_slice(&m.to_le_bytes());
    }
    put_f32s(&mut out, &reply.state);
    out
}

/// The reply in `bytes`.
pub fn decode_reply(bytes: &[u8]) -> Result<Reply> {
    let mut r = Reader::new(bytes, REPLY, "reply")?;
    let grad = r.f32s()?;
    let m = r.take(8)?;
    let metrics = [
        f32::from_le_bytes([m[0], m[1], m[2], m[3]]),
        f32::from_le_bytes([m[4], m[5], m[6], m[7]]),
    ];
    let state = r.f32s()?;
    r.end()?;
    Ok(Reply {
        grad,
        metrics,
        state,
    })
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_f32s(out: &mut Vec<u8>, v: &[f32]) {
    put_u64(out, v.len() as u64);
    out.extend_from_slice(bytemuck::cast_slice(v));
}

/// A cursor over a message that checks each read against what is left.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], magic: &[u8; 3], what: &'static str) -> Result<Self> {
        let mut r = Reader { bytes, at: 0, what };
        if r.take(3).ok() != Some(&magic[..]) {
            return Err(r.bad("does not start with its marker".into()));
        }
        Ok(r)
    }

    fn bad(&self, detail: String) -> Error {
        Error::Invalid(format!(
            "a {} message from another rank {detail} (at byte {} of {}); every rank must run the \
             same sampa build",
            self.what,
            self.at,
            self.bytes.len()
        ))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(self.bad(format!("is cut short: {n} bytes wanted, {left} left")));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// A count of items of `size` bytes each, checked against the bytes left.
    fn count(&mut self, size: usize) -> Result<usize> {
        let n = self.u64()?;
        let left = (self.bytes.len() - self.at) as u64;
        if n > left / size as u64 {
            return Err(self.bad(format!(
                "claims {n} items of {size} bytes; {left} bytes left"
            )));
        }
        Ok(n as usize)
    }

    fn f32s(&mut self) -> Result<Vec<f32>> {
        let n = self.count(4)?;
        let b = self.take(4 * n)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn end(&self) -> Result<()> {
        if self.at != self.bytes.len() {
            return Err(self.bad("has bytes after its end".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(drawn: bool) -> Job {
        let batch = if drawn {
            Batch {
                drawn: vec![
                    Drawn {
                        index: 7,
                        shift: (-4, 3),
                        flip: true,
                        cutout: Some((-8, 300)),
                        crop: 0x0123_4567_89ab_cdef,
                    },
                    Drawn::default(),
                ],
                ..Batch::default()
            }
        } else {
            Batch {
                pixels: vec![0.5, -1.25, 3.0, 4.0],
                labels: vec![9, 0],
                drawn: Vec::new(),
            }
        };
        Job {
            step: 12,
            point: vec![1.0, -2.5, f32::MIN_POSITIVE],
            batch,
            dropout_key: 0xdead_beef,
            group: Some(4),
            sync_share: drawn.then_some(0.375),
        }
    }

    #[test]
    fn jobs_and_replies_round_trip() {
        for drawn in [true, false] {
            let j = job(drawn);
            let back = decode_job(&encode_job(&j)).unwrap();
            assert_eq!(
                (back.step, &back.point, &back.batch, back.group),
                (12, &j.point, &j.batch, Some(4))
            );
            assert_eq!(back.sync_share, j.sync_share);
        }
        let r = Reply {
            grad: vec![0.25, -7.0],
            metrics: [2.3, 5.0],
            state: vec![1.5],
        };
        assert_eq!(decode_reply(&encode_reply(&r)).unwrap(), r);
    }

    #[test]
    fn a_drawn_batch_travels_as_twenty_bytes_an_example() {
        // The point of the drawn form: the pixels stay home.
        let bytes = encode_job(&job(true));
        assert_eq!(
            bytes.len(),
            3 + 8 + 4 + 8 + 5 + 8 + 3 * 4 + 1 + 8 + 2 * DRAWN
        );
        assert_eq!(DRAWN, 20);
    }

    #[test]
    fn damaged_messages_are_errors() {
        let bytes = encode_job(&job(false));
        for cut in 0..bytes.len() {
            assert!(decode_job(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        // The point's length, after the magic, the step, the dropout key, the group size and
        // the share.
        huge[28..36].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = decode_job(&huge).unwrap_err().to_string();
        assert!(e.contains("claims"), "{e}");
        let mut flag = bytes.clone();
        flag[23] = 7;
        let e = decode_job(&flag).unwrap_err().to_string();
        assert!(e.contains("unknown share flag 7"), "{e}");
        let mut extra = encode_reply(&Reply {
            grad: vec![1.0],
            metrics: [0.0; 2],
            state: Vec::new(),
        });
        extra.push(0);
        assert!(
            decode_reply(&extra)
                .unwrap_err()
                .to_string()
                .contains("after its end")
        );
        assert!(decode_reply(&bytes).is_err(), "a job is not a reply");
    }
}
