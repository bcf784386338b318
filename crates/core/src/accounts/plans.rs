//! Plans: which services a key may call and the limits that come with it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// Something a key may be allowed to call. One list for every dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Country-level GeoIP (MaxMind `country`).
    Country,
    /// City-level GeoIP (MaxMind `city`).
    City,
    /// City plus network and anonymity data (MaxMind `insights`).
    Insights,
    /// The DB-IP v2 API; what it returns depends on the plan's `tier`.
    Dbip,
    /// Network tasks (WHOIS, port scans) through QRadar's `/api/services`.
    Tasks,
    /// Bulk requests (`/api/bgservice`): many terms, charged one credit each.
    Bulk,
}

impl Service {
    pub const ALL: &'static [Service] = &[
        Service::Country,
        Service::City,
        Service::Insights,
        Service::Dbip,
        Service::Tasks,
        Service::Bulk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Country => "country",
            Service::City => "city",
            Service::Insights => "insights",
            Service::Dbip => "dbip",
            Service::Tasks => "tasks",
            Service::Bulk => "bulk",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Service, String> {
        Service::ALL
            .iter()
            .copied()
            .find(|svc| svc.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Service::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown service {s:?} (known: {})", known.join(", "))
            })
    }
}

/// How much detail tiered APIs (DB-IP) return: DB-IP's free, lite ("basic") and pro ("core").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Free,
    Lite,
    Pro,
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Tier, String> {
        match s {
            "free" => Ok(Tier::Free),
            "lite" => Ok(Tier::Lite),
            "pro" => Ok(Tier::Pro),
            other => Err(format!("unknown tier {other:?} (free, lite, pro)")),
        }
    }
}

/// A plan's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub name: String,
    pub services: BTreeSet<Service>,
    /// Queries per UTC day; `None` is unlimited.
    pub daily_quota: Option<u64>,
    /// Credits a new account on this plan starts with; `None` is unlimited.
    pub credits: Option<u64>,
    /// Most addresses one batch request may carry.
    pub batch_limit: u32,
    /// Detail level for tiered APIs.
    pub tier: Tier,
}

/// Every plan by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plans(pub BTreeMap<String, Plan>);

impl Plans {
    /// free, lite and pro, as documented in docs/configuration.md.
    pub fn builtin() -> Plans {
        let plan = |name: &str, services: &[Service], daily_quota, batch_limit, tier| Plan {
            name: name.to_owned(),
            services: services.iter().copied().collect(),
            daily_quota,
            credits: None,
            batch_limit,
            tier,
        };
        use Service::*;
        Plans(
            [
                plan("free", &[Country, City, Dbip], Some(1_000), 32, Tier::Free),
                plan(
                    "lite",
                    &[Country, City, Dbip, Tasks, Bulk],
                    Some(50_000),
                    256,
                    Tier::Lite,
                ),
                plan(
                    "pro",
                    &[Country, City, Insights, Dbip, Tasks, Bulk],
                    None,
                    256,
                    Tier::Pro,
                ),
            ]
            .into_iter()
            .map(|p| (p.name.clone(), p))
            .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&Plan> {
        self.0.get(name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_parses_from_its_name() {
        // A match with no wildcard lists every variant: adding one without listing it in
        // ALL fails here.
        let listed = |s: Service| match s {
            Service::Country
            | Service::City
            | Service::Insights
            | Service::Dbip
            | Service::Tasks
            | Service::Bulk => Service::ALL.contains(&s),
        };
        for s in [
            Service::Country,
            Service::City,
            Service::Insights,
            Service::Dbip,
            Service::Tasks,
            Service::Bulk,
        ] {
            assert!(listed(s), "{s} missing from Service::ALL");
            assert_eq!(s.as_str().parse::<Service>(), Ok(s));
        }
    }
}
