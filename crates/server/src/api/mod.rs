//! API dialects. Each folder parses its wire format, calls the engine, renders its answer
//! and its own error body. Invariant: no dialect imports another.

pub mod dbip;
pub mod maxmind;
pub mod qradar;
pub mod ripe;
pub mod v1;
pub mod whoisxml;
