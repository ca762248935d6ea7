//! The data directory's `.lock`: one broker at a time may own a data directory, as Kafka's
//! LogManager enforces, so two processes never append to the same segments.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Held for the broker's lifetime; the kernel releases it when the process ends, however
/// it ends.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(data_dir: &Path) -> io::Result<DirLock> {
        super::create_dir_durably(data_dir)?;
        let path = data_dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        // SAFETY: flock on a file descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = io::Error::last_os_error();
            return Err(if err.kind() == io::ErrorKind::WouldBlock {
                io::Error::other(format!(
                    "{} is locked: another broker is using the data directory {}",
                    path.display(),
                    data_dir.display()
                ))
            } else {
                err
            });
        }
        Ok(DirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        assert!(err.to_string().contains("another broker"), "{err}");
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
