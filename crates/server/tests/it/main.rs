//! The one integration-test binary. Every test starts real servers on 127.0.0.1:0.
//!
//! - `support`: fixtures built from `tests/data/*.json`, `TestServer`, a raw HTTP client.
//! - `maxmind`: the GeoIP2 web-service dialect, success and every error path.
//! - `dbip`: the DB-IP v2 dialect: tiers, batches, localisation, quota.
//! - `qradar`: QRadar geolocations: filters, fields, local networks, paging, errors.
//! - `newcomer`: regressions for issue 10 (`r10_*`): the index page, refusals in each
//!   dialect's error format, DB-IP's status for unlimited keys.
//! - `readme`: README's "First steps" block, run as written against the real binary.
//! - `tasks`: QRadar WHOIS and port-scan tasks on the durable job engine.
//! - `openapi`: the published document validates and matches the router.
//! - `accounts`: keys created and revoked by the CLI while serving; exact metering.
//! - `reload`: replacing databases under load; broken replacements.
//! - `python_sdk`: MaxMind's own `geoip2` package over TLS.
//! - `cli`: lookup, data and config commands through the real binary.
//! - `engine`: the flat lookup index against the databases' own search trees.
//! - `tidy`: module docs, the codemap, and the config key table stay true.
//! - `v1`: ipintel's own API in JSON, XML and CSV.
//! - `bulk`: the WhoisXML-style bulk API and `ipintel bulk`, with a loopback DNS zone.
//! - `zone`: a DNS server on 127.0.0.1 answering from a function.
//! - `ripe`: the RPSL registry and the RIPE Database REST API, imported by the CLI.
//! - `hardening`: regressions for the defects issue 9 found (`r9_*`): hostile input,
//!   unfinished uploads, files changed in place, admin access, referrals, DNS failures.
//! - `stalls`: regressions for issue 19 (`r19_*`): a full disk, one request stalling all,
//!   password guessing, an import blocking writers, whois answers without a budget.

mod accounts;
mod bulk;
mod cli;
mod console;
mod dbip;
mod engine;
mod hardening;
mod irrd;
mod maxmind;
mod newcomer;
mod openapi;
mod python_sdk;
mod qradar;
mod readme;
mod reload;
mod ripe;
mod shared;
mod stalls;
mod support;
mod tasks;
mod tidy;
mod v1;
mod whois;
mod zone;
