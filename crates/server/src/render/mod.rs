//! Output machinery shared by dialects: field selection over JSON answers, and JSON answers
//! as XML and CSV.

pub mod csv;
pub mod fields;
pub mod xml;
