//! The ipintel engine. It knows no HTTP and no wire format of any API dialect.
//!
//! Layout:
//! - [`geo`]: MMDB databases, merged into one answer per address; reserved ranges; atomic
//!   reload; building MMDB files from open data.
//! - [`engine`]: the use cases front ends call (metered lookups, task submission): one
//!   request path for every dialect.
//! - [`accounts`]: keys, plans, metering (one model for every dialect).
//! - [`jobs`]: the durable job model and its state machine.
//! - [`bulk`]: bulk request terms: classification and deduplication.
//! - [`registry`]: RPSL registry objects (the RIPE Database, IRR data): the parser so far.
//! - [`store`]: durable state in SQLite.
//! - [`ErrorKind`]: what every engine error reduces to, for front ends to map.

pub mod accounts;
pub mod bulk;
pub mod engine;
mod error;
pub mod geo;
pub mod jobs;
pub mod registry;
pub mod store;

pub use error::ErrorKind;

/// Give freed heap memory back to the operating system. glibc keeps freed pages for reuse,
/// so after a burst of large temporary allocations (an index build, a 100,000-term bulk
/// request) the process would stay that large; callers call this after such bursts.
#[allow(unsafe_code)]
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of the allocator's own heap.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A new file in `dir` named `.STEM-PID-N.SUFFIX` (N counts this process's files), opened
/// for reading and writing: the scratch files of imports and registry builds, which the
/// registry directory's clean-up recognises by their suffix once their process is gone.
pub fn create_scratch_file(
    dir: &std::path::Path,
    stem: &str,
    suffix: &str,
) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    static FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = dir.join(format!(
        ".{stem}-{}-{}.{suffix}",
        std::process::id(),
        FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}
