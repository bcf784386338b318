//! Output machinery shared by dialects: field selection over JSON answers.

pub mod fields;
