//! The RPSL registry (issue 11): objects of the RIPE Database and IRR databases, read from
//! the registries' dump files and the operator's own RPSL. This module knows no HTTP and no
//! whois wire format; the REST and whois front ends render what it answers.
//!
//! Built so far: [`rpsl`], the parser of the text format; [`template`], the classes and
//! their attributes (validation, keys); [`ranges`], the address-range index behind exact,
//! less- and more-specific queries; [`key`], search keys classified and address forms read;
//! [`index`], one generation in memory with its primary, lookup, name-word, inverse, range
//! and AS indexes. Storage through the store interface, sources, import with history, and
//! the front ends follow (see the issue 11 note).

pub mod import;
pub mod index;
pub mod key;
pub mod query;
pub mod ranges;
pub mod rpsl;
pub mod service;
pub mod template;
pub mod view;
