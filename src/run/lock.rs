//! One owner per run directory: a run that creates or resumes a directory holds an exclusive
//! advisory lock (`flock`) on the file `.sampa.lock` inside it for the process's life, and the
//! file names the owner's process id. The operating system releases the lock on any exit,
//! SIGKILL included, so a killed run's directory can be resumed at once; a second process that
//! wants the directory meanwhile (a run into the same `--out`, a `--resume`, an `--overwrite`)
//! gets a one-line error naming the owner.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// The lock file's name inside a run directory.
pub const LOCK_FILE: &str = ".sampa.lock";

/// A held lock on a run directory; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// How long a would-be owner retries: another process may be holding the lock for a moment
/// only (a shared probe by [`owner`]), or have just taken it and not yet written its id.
const PATIENCE: Duration = Duration::from_millis(500);

impl RunLock {
    /// Take the lock of the run directory `dir` (which exists), or fail naming the process
    /// that holds it; `flag` names the option that asked for the directory.
    pub fn acquire(dir: &Path, flag: &str) -> Result<RunLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                Error::data(&path, format!("{flag}: cannot create the run's lock ({e})"))
            })?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if start.elapsed() < PATIENCE => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => return Err(owned(dir, flag, read_pid(&mut file))),
                Err(TryLockError::Error(e)) => {
                    return Err(Error::data(
                        &path,
                        format!("{flag}: cannot lock the run ({e})"),
                    ));
                }
            }
        }
        let id = std::process::id().to_string();
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(id.as_bytes()))
            .and_then(|()| file.sync_all());
        written.map_err(|e| {
            Error::data(&path, format!("{flag}: cannot write the run's lock ({e})"))
        })?;
        Ok(RunLock { _file: file })
    }
}

/// The id of the process that holds `dir`'s lock, if another one does.
pub fn owner(dir: &Path) -> Option<u32> {
    let mut file = File::open(dir.join(LOCK_FILE)).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => {
            read_pid(&mut file).filter(|&pid| pid != std::process::id())
        }
        Err(TryLockError::Error(_)) => None,
    }
}

/// The id of the process that last owned `dir`, whether or not it still runs.
pub fn last_owner(dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(dir.join(LOCK_FILE)).ok()?;
    text.trim().parse().ok()
}

/// The error for a directory that process `pid` owns.
pub fn owned(dir: &Path, flag: &str, pid: Option<u32>) -> Error {
    let who = pid.map_or("another sampa process".to_string(), |p| {
        format!("sampa process {p}")
    });
    Error::data(
        dir,
        format!(
            "{flag}: {who} is training in this run directory; wait for it to finish (or stop it), \
             or choose another --out"
        ),
    )
}

/// The owner's id from the lock file, waiting a moment for an owner that has just taken the
/// lock to write it.
fn read_pid(file: &mut File) -> Option<u32> {
    let start = Instant::now();
    loop {
        let mut text = String::new();
        let read = file.rewind().and_then(|()| file.read_to_string(&mut text));
        if let Some(pid) = read.ok().and_then(|_| text.trim().parse().ok()) {
            return Some(pid);
        }
        if start.elapsed() > PATIENCE {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
