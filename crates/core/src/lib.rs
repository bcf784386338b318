//! The ipintel engine. It knows no HTTP and no wire format of any API dialect.
//!
//! Layout:
//! - [`geo`]: MMDB databases, merged into one answer per address; reserved ranges; atomic
//!   reload; building MMDB files from open data.
//! - [`accounts`]: keys, plans, metering (one model for every dialect).
//! - [`jobs`]: the durable job model and its state machine.
//! - [`bulk`]: bulk request terms: classification and deduplication.
//! - [`store`]: durable state in SQLite.
//! - [`ErrorKind`]: what every engine error reduces to, for front ends to map.

pub mod accounts;
pub mod bulk;
mod error;
pub mod geo;
pub mod jobs;
pub mod store;

pub use error::ErrorKind;
