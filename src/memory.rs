//! Host memory: how much is free, and a check to make before a large allocation.
//!
//! A Vec that cannot be allocated aborts the process, and with Linux's overcommit a large one
//! that can be allocated may instead get the process killed when it is filled. Either way the
//! user sees no message, so sizes that follow from user input (image sizes, widths, dataset
//! lengths) are checked against the free memory first.

use crate::error::{Error, Result};

/// Bytes of host memory the system says can be allocated without swapping (`MemAvailable`
/// of /proc/meminfo), or `None` where that is unknown (other systems, the browser).
pub fn available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Check that `bytes` (`None`: more than a u64 can count) of host memory for `what` can be
/// had; `hint` says what to change. Where the free memory is unknown only the overflow is
/// caught.
pub fn check(what: &str, bytes: Option<u64>, hint: &str) -> Result<()> {
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    match (bytes, available()) {
        (None, _) => Err(Error::Invalid(format!(
            "{what} would need more host memory than can be counted; {hint}"
        ))),
        (Some(b), Some(free)) if b > free => Err(Error::Invalid(format!(
            "{what} would need {:.2} GiB of host memory and {:.2} GiB is available; {hint}",
            gib(b),
            gib(free)
        ))),
        _ => Ok(()),
    }
}

/// The product of `factors`, or `None` if it overflows a u64.
pub fn product(factors: &[u64]) -> Option<u64> {
    factors.iter().try_fold(1u64, |n, &f| n.checked_mul(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let free = available().expect("/proc/meminfo has MemAvailable");
            // Any machine that runs the tests has more than 64 MiB and less than 64 TiB free.
            assert!(free > 64 << 20 && free < 64 << 40, "{free}");
        }
    }

    #[test]
    fn sizes_beyond_the_free_memory_are_refused_naming_what_and_how() {
        let err = check("the images", Some(u64::MAX / 2), "use fewer").unwrap_err();
        let msg = err.to_string();
        if cfg!(target_os = "linux") {
            assert!(msg.starts_with("the images would need "), "{msg}");
            assert!(msg.ends_with("; use fewer"), "{msg}");
        }
        let overflow = check("the images", product(&[u64::MAX, 2]), "use fewer").unwrap_err();
        assert!(
            overflow
                .to_string()
                .contains("more host memory than can be counted")
        );
        assert!(check("a byte", Some(1), "none").is_ok());
        assert_eq!(product(&[3, 4, 5]), Some(60));
    }
}
