//! Preallocated segments, made ready on a background thread.
//!
//! An `fdatasync` after a write that grows a file must also commit the file's new size
//! and block map to the file system's journal; after a write into blocks that already
//! hold (zero) data it flushes only the data. On this project's reference machine that
//! is 10–30% off every group commit (PERF.md, "Preallocated journal segments"). So a
//! journal opened with [`JournalOptions::segment_bytes`](crate::JournalOptions) writes
//! into segments that were zero-filled and synced beforehand, by this thread, never by
//! the journal's.
//!
//! One spare at a time: `spare-segment.partial` while it is being filled, renamed to
//! `spare-segment.tmp` once whole and durable. The journal takes it by renaming it to
//! its next segment's name (neither name is a segment's, so readers never see a spare),
//! and asks for the next one. A spare left by a previous process is used as it is; a
//! partial one is removed. The segment a journal leaves is cut back to what was written,
//! also here, so that only the newest segment carries a zero-filled rest.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

use crate::{JournalError, io_err};

/// The ready spare's file name.
pub(crate) const SPARE_FILE: &str = "spare-segment.tmp";
/// The spare being filled.
const PARTIAL_FILE: &str = "spare-segment.partial";

/// Work for the preparer thread.
enum Job {
    /// Fill a new spare.
    Prepare,
    /// Cut a finished segment back to its written length.
    Trim(File, u64),
}

/// The journal's handle on its spare segments.
#[derive(Debug)]
pub(crate) struct Spares {
    dir: PathBuf,
    bytes: u64,
    ready: Arc<AtomicBool>,
    /// Set when the journal closes: a fill in progress stops at its next write.
    closing: Arc<AtomicBool>,
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Spares {
    /// Starts the preparer for segments of `bytes` (rounded up to whole pages) in `dir`;
    /// a whole spare of that size left from before is ready at once.
    pub(crate) fn start(dir: &Path, bytes: u64) -> Result<Spares, JournalError> {
        let bytes = bytes.div_ceil(PAGE) * PAGE;
        let partial = dir.join(PARTIAL_FILE);
        match std::fs::remove_file(&partial) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_err(&partial)(e));
            }
            _ => {}
        }
        let spare = dir.join(SPARE_FILE);
        let whole = std::fs::metadata(&spare).is_ok_and(|m| m.len() == bytes);
        let ready = Arc::new(AtomicBool::new(whole));
        let closing = Arc::new(AtomicBool::new(false));
        let (jobs, rx) = channel();
        let thread = {
            let at = dir.to_path_buf();
            let ready = ready.clone();
            let closing = closing.clone();
            std::thread::Builder::new()
                .name("journal-spare".into())
                .spawn(move || {
                    for job in rx {
                        let done = match job {
                            Job::Prepare => prepare(&at, bytes, &closing).map(|()| {
                                ready.store(true, Ordering::Release);
                            }),
                            Job::Trim(file, len) => file.set_len(len),
                        };
                        if let Err(e) = done
                            && !closing.load(Ordering::Relaxed)
                        {
                            // The journal goes on writing into a growing segment:
                            // slower commits, nothing lost.
                            eprintln!(
                                "bourse-journal: preparing segments in {}: {e}",
                                at.display()
                            );
                        }
                    }
                })
                .map_err(io_err(dir))?
        };
        if !whole {
            let _ = jobs.send(Job::Prepare);
        }
        Ok(Spares {
            dir: dir.to_path_buf(),
            bytes,
            ready,
            closing,
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Whether a spare is ready to be taken.
    #[cfg(test)]
    pub(crate) fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// A segment's preallocated size.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Moves the ready spare to `path` (replacing a file there); `false` when none is
    /// ready yet. The caller syncs the directory before writing anything it will
    /// acknowledge into `path`, and asks for the next spare ([`refill`](Self::refill)).
    pub(crate) fn take(&self, path: &Path) -> Result<bool, JournalError> {
        if !self.ready.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.ready.store(false, Ordering::Relaxed);
        std::fs::rename(self.dir.join(SPARE_FILE), path).map_err(io_err(path))?;
        Ok(true)
    }

    /// Starts making the next spare, after the one taken.
    pub(crate) fn refill(&self) {
        self.send(Job::Prepare);
    }

    /// Cuts `file`, a segment the journal has finished with, to `len` bytes, in the
    /// background (before the next spare is made, if asked first).
    pub(crate) fn trim(&self, file: File, len: u64) {
        self.send(Job::Trim(file, len));
    }

    fn send(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            // The thread ends only when `jobs` is dropped.
            let _ = jobs.send(job);
        }
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        // A half-made spare is removed by the next start.
        self.closing.store(true, Ordering::Relaxed);
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Segment sizes are whole pages.
pub(crate) const PAGE: u64 = 4096;

/// Fills `spare-segment.partial` with `bytes` zeros (a whole number of pages), makes it
/// durable, and renames it into place as the ready spare.
///
/// Gently, because it runs beside the journal it is preparing for: the zeros go
/// straight to the disk (`O_DIRECT`: no copy into the page cache, no burst of dirty
/// pages for the kernel to write back at once) in 256 KiB writes with a pause after
/// each, leaving the core and the disk to the journal's own writes and syncs. Where the
/// file system refuses `O_DIRECT`, ordinary writes.
fn prepare(dir: &Path, bytes: u64, closing: &AtomicBool) -> std::io::Result<()> {
    const CHUNK: usize = 256 << 10;
    let partial = dir.join(PARTIAL_FILE);
    let open = |flags| {
        OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .custom_flags(flags)
            .open(&partial)
    };
    // O_DIRECT wants the buffer aligned: a page-aligned window of a larger one.
    let buffer = vec![0u8; CHUNK + PAGE as usize];
    let at = buffer.as_ptr().align_offset(PAGE as usize);
    let zeros = &buffer[at..at + CHUNK];
    let fill = |mut file: File| -> std::io::Result<File> {
        let mut left = bytes;
        while left > 0 {
            if closing.load(Ordering::Relaxed) {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            let n = left.min(CHUNK as u64) as usize;
            file.write_all(&zeros[..n])?;
            left -= n as u64;
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        Ok(file)
    };
    let file = match open(libc::O_DIRECT).and_then(fill) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(e),
        Err(_) => fill(open(0)?)?,
    };
    file.sync_all()?;
    drop(file);
    std::fs::rename(&partial, dir.join(SPARE_FILE))?;
    File::open(dir)?.sync_all()
}
