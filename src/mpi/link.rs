//! Checked MPI calls. rsmpi's safe API discards MPI's return codes (it expects the default
//! handler, which aborts the job); sampa sets the handler that returns errors, so the few
//! calls a step makes go through MPI's C interface here and turn every code into an error.
//!
//! Waiting never spins: a transfer is started (`MPI_Isend`, kept in an [`Outbox`] while the
//! rank goes on) or looked for (`MPI_Iprobe`), then tested with the thread asleep between
//! tests, so that on a machine with
//! as many cores as ranks the waiting rank leaves its core to the one computing. Each wait
//! also watches [`super::ending::ending`], set when mpirun ends the job.

use crate::error::{Error, Result};
use mpi::ffi;
use std::os::raw::c_int;
use std::time::Duration;

/// How long a waiting rank first sleeps between tests of its transfer; each miss doubles it
/// up to [`POLL_MAX`], so a rank idle for long (a worker between runs) wakes rarely and one
/// in a step's rhythm answers within tens of microseconds.
const POLL: Duration = Duration::from_micros(20);
const POLL_MAX: Duration = Duration::from_micros(200);

/// The next wait after `d`.
fn backoff(d: Duration) -> Duration {
    (d * 2).min(POLL_MAX)
}

/// Message tags.
pub mod tag {
    /// The run's config, from rank 0 to every other rank.
    pub const CONFIG: i32 = 1;
    /// A gradient job, main to worker.
    pub const JOB: i32 = 2;
    /// A worker's reply.
    pub const REPLY: i32 = 3;
    /// The end of the run, main to worker (an empty message).
    pub const STOP: i32 = 4;
}

/// An MPI return code as an error naming what was being done.
fn check(code: c_int, what: &str) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    let mut text = vec![0u8; 512];
    let mut len: c_int = 0;
    // SAFETY: the buffer has MPI_MAX_ERROR_STRING (256 in Open MPI) bytes and more.
    unsafe { ffi::MPI_Error_string(code, text.as_mut_ptr().cast(), &mut len) };
    text.truncate(len.clamp(0, 512) as usize);
    Err(Error::Peer {
        what: what.to_string(),
        message: format!("MPI error {code}: {}", String::from_utf8_lossy(&text)),
    })
}

/// The error of a wait that ended because the job is ending.
fn ended(what: &str) -> Error {
    Error::Peer {
        what: what.to_string(),
        message: "mpirun is ending the job (a rank failed or the job was interrupted)".into(),
    }
}

/// Make MPI calls on `comm` return errors instead of aborting every rank.
pub fn return_errors(comm: ffi::MPI_Comm) -> Result<()> {
    // SAFETY: comm is a live communicator; the handler is MPI's predefined one.
    check(
        unsafe { ffi::MPI_Comm_set_errhandler(comm, ffi::RSMPI_ERRORS_RETURN) },
        "setting MPI's error handler",
    )
}

fn len_of(bytes: usize, what: &str) -> Result<c_int> {
    c_int::try_from(bytes).map_err(|_| {
        Error::Invalid(format!(
            "{what}: a message of {bytes} bytes is larger than MPI's 2 GiB count; use a smaller \
             model"
        ))
    })
}

/// A send in flight and the buffer it reads, kept until MPI is done with it. A rank posts its
/// message and goes on (the main to its own work, the worker to wait for its next job);
/// every later wait also tests the send, which moves it along.
pub struct Outbox {
    request: ffi::MPI_Request,
    bytes: Vec<u8>,
    what: String,
    busy: bool,
}

// SAFETY: the request is a handle used by one thread at a time (see `transport::Comm`).
unsafe impl Send for Outbox {}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            // SAFETY: a null request is MPI's own constant.
            request: unsafe { ffi::RSMPI_REQUEST_NULL },
            bytes: Vec::new(),
            what: String::new(),
            busy: false,
        }
    }
}

impl Outbox {
    /// Start sending `bytes` to `dest` with `tag`, after the send before it has finished.
    pub fn post(
        &mut self,
        comm: ffi::MPI_Comm,
        (dest, tag): (i32, i32),
        bytes: Vec<u8>,
        what: &str,
    ) -> Result<()> {
        self.flush()?;
        let count = len_of(bytes.len(), what)?;
        self.bytes = bytes;
        self.what = what.to_string();
        // SAFETY: the buffer stays in `self` until the request completes (`test`, `Drop`).
        check(
            unsafe {
                ffi::MPI_Isend(
                    self.bytes.as_ptr().cast(),
                    count,
                    ffi::RSMPI_UINT8_T,
                    dest,
                    tag,
                    comm,
                    &mut self.request,
                )
            },
            what,
        )?;
        self.busy = true;
        Ok(())
    }

    /// Test the send in flight once; true when none is left.
    fn test(&mut self) -> Result<bool> {
        if !self.busy {
            return Ok(true);
        }
        let mut flag: c_int = 0;
        // SAFETY: status is written by MPI_Test; zeroed is a valid bit pattern for it.
        let mut status: ffi::MPI_Status = unsafe { std::mem::zeroed() };
        check(
            unsafe { ffi::MPI_Test(&mut self.request, &mut flag, &mut status) },
            &self.what,
        )?;
        self.busy = flag == 0;
        Ok(!self.busy)
    }

    /// Wait (asleep) until the send in flight is done.
    pub fn flush(&mut self) -> Result<()> {
        let mut wait = POLL;
        while !self.test()? {
            if super::ending::ending() {
                return Err(ended(&self.what));
            }
            std::thread::sleep(wait);
            wait = backoff(wait);
        }
        Ok(())
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // MPI may still read the buffer: wait a moment for the receiver, and if it is gone,
        // leave the buffer to the process's end rather than free it under MPI.
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while self.busy && std::time::Instant::now() < deadline {
            if self.test().is_err() {
                break;
            }
            std::thread::sleep(POLL_MAX);
        }
        if self.busy {
            std::mem::forget(std::mem::take(&mut self.bytes));
        }
    }
}

/// Send `bytes` to `dest` with `tag` and wait (asleep) until MPI is done with them.
pub fn send(comm: ffi::MPI_Comm, dest: i32, tag: i32, bytes: &[u8], what: &str) -> Result<()> {
    let mut out = Outbox::default();
    out.post(comm, (dest, tag), bytes.to_vec(), what)?;
    out.flush()
}

/// Wait (asleep) for a message from `source` with one of `tags`; returns its tag and bytes.
/// `outbox`'s send in flight, if any, is moved along while waiting.
pub fn receive(
    comm: ffi::MPI_Comm,
    (source, tags): (i32, &[i32]),
    mut outbox: Option<&mut Outbox>,
    what: &str,
) -> Result<(i32, Vec<u8>)> {
    let mut wait = POLL;
    loop {
        if let Some(o) = outbox.as_deref_mut() {
            o.test()?;
        }
        for &tag in tags {
            let mut flag: c_int = 0;
            // SAFETY: as in `send`.
            let mut status: ffi::MPI_Status = unsafe { std::mem::zeroed() };
            check(
                unsafe { ffi::MPI_Iprobe(source, tag, comm, &mut flag, &mut status) },
                what,
            )?;
            if flag != 0 {
                return receive_probed(comm, (source, tag), &status, what).map(|b| (tag, b));
            }
        }
        if super::ending::ending() {
            return Err(ended(what));
        }
        std::thread::sleep(wait);
        wait = backoff(wait);
    }
}

/// Receive the message `status` says is waiting.
fn receive_probed(
    comm: ffi::MPI_Comm,
    (source, tag): (i32, i32),
    status: &ffi::MPI_Status,
    what: &str,
) -> Result<Vec<u8>> {
    let mut count: c_int = 0;
    // SAFETY: status comes from a successful MPI_Iprobe.
    check(
        unsafe { ffi::MPI_Get_count(status, ffi::RSMPI_UINT8_T, &mut count) },
        what,
    )?;
    let mut bytes = vec![0u8; count.max(0) as usize];
    let mut got: ffi::MPI_Status = unsafe { std::mem::zeroed() };
    // SAFETY: the buffer holds exactly the probed message's bytes.
    check(
        unsafe {
            ffi::MPI_Recv(
                bytes.as_mut_ptr().cast(),
                count,
                ffi::RSMPI_UINT8_T,
                source,
                tag,
                comm,
                &mut got,
            )
        },
        what,
    )?;
    Ok(bytes)
}

/// Sum `values` over every rank of `comm`, in place.
pub fn sum(comm: ffi::MPI_Comm, values: &mut [f32], what: &str) -> Result<()> {
    let count = len_of(values.len(), what)?;
    let input = values.to_vec();
    // SAFETY: both buffers hold `count` f32s.
    check(
        unsafe {
            ffi::MPI_Allreduce(
                input.as_ptr().cast(),
                values.as_mut_ptr().cast(),
                count,
                ffi::RSMPI_FLOAT,
                ffi::RSMPI_SUM,
                comm,
            )
        },
        what,
    )
}
