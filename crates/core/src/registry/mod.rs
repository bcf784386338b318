//! The RPSL registry (issue 11): objects of the RIPE Database and IRR databases, read from
//! the registries' dump files and the operator's own RPSL. This module knows no HTTP and no
//! whois wire format; the REST and whois front ends render what it answers.
//!
//! [`flags`] is RIPE's query-flag table; [`rpsl`] parses the text format; [`template`] holds the classes and their attributes;
//! [`ranges`] and [`index`] are one generation in memory with every index; [`key`]
//! classifies search keys; [`query`] is RIPE's query model (flags, related objects, abuse
//! contact, geolocation); [`view`] filters objects for a reader; [`unlock`] checks maintainer passwords; [`import`] reads dumps
//! and works out an import's changes; [`service`] serves one generation and swaps in the
//! next; [`sets`] expands as-sets and route-sets for IRR clients.

pub mod admit;
pub mod caches;
pub mod compact;
pub mod files;
pub mod flags;
pub mod import;
pub mod index;
pub mod key;
pub mod mirror;
pub mod normalise;
pub mod parallel;
pub mod query;
pub mod ranges;
pub mod rpsl;
pub mod service;
pub mod sets;
pub mod template;
pub mod unlock;
pub mod versions;
pub mod view;
