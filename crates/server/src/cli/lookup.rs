//! `ipintel lookup`: one address answered from the databases, no server needed.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use ipintel_core::engine::{
    locate_unmetered, Cost, Located, LookupPolicy, MissingPolicy, ReservedPolicy,
};
use ipintel_core::geo::{GeoError, GeoOptions, GeoService};

use super::LookupArgs;
use super::{EXIT_NOT_FOUND, EXIT_OK};
use crate::config::Config;

pub fn lookup(config: &Config, args: LookupArgs) -> anyhow::Result<i32> {
    let ip: IpAddr = args
        .ip
        .trim()
        .parse()
        .with_context(|| format!("{:?} is not an IPv4 or IPv6 address", args.ip))?;
    let paths: Vec<PathBuf> = if args.mmdb.is_empty() {
        config.mmdb_paths()
    } else {
        args.mmdb
    };
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        bail!(
            "no databases at {} (data directory from {}); run scripts/fetch-data.sh, or pass --mmdb FILE",
            missing.display(),
            config
                .sources
                .get("data_dir")
                .map_or("the default", String::as_str)
        );
    }
    let geo = GeoService::open(GeoOptions {
        paths,
        verify: false,
        cache_bytes: config.geoip.cache_mb << 20,
    })?;
    // The same judging as every dialect (reserved ranges, the configured local networks,
    // misses), without an account: the operator's own tool is not metered.
    let policy = LookupPolicy {
        reserved: ReservedPolicy::Answer,
        missing: MissingPolicy::Answer,
        cost: Cost::PerAnswer,
        places: ipintel_core::geo::PlaceForm::Decoded,
    };
    let printed = locate_unmetered(&geo, &config.local_networks(), &[ip], policy, |answers| {
        let mut out = std::io::stdout().lock();
        match answers.located.first() {
            Some(located) => print_located(&mut out, located, args.json),
            None => Ok(EXIT_NOT_FOUND),
        }
    });
    match printed {
        Ok(result) => Ok(result?),
        Err(GeoError::NoDatabases) => bail!(
            "no MMDB database found in {:?}; run scripts/fetch-data.sh or pass --mmdb",
            geo.paths()
        ),
        Err(e) => Err(e.into()),
    }
}

fn print_located(out: &mut impl Write, located: &Located<'_>, json: bool) -> anyhow::Result<i32> {
    let answer = &located.answer;
    if let Some(label) = located.reserved {
        writeln!(out, "{} is in a reserved range ({label})", located.ip)?;
        if located.local.is_none() {
            return Ok(EXIT_NOT_FOUND);
        }
    }
    if let Some(local) = located.local {
        writeln!(
            out,
            "local network {} {} (domain {})",
            local.network, local.name, local.domain_id
        )?;
        if answer.is_empty() {
            return Ok(EXIT_OK);
        }
    } else if answer.is_empty() {
        writeln!(out, "{} is not in any database", located.ip)?;
        return Ok(EXIT_NOT_FOUND);
    }
    if json {
        out.write_all(&crate::app::insights_json(answer))?;
        writeln!(out)?;
        return Ok(EXIT_OK);
    }
    let en = |names: &ipintel_core::geo::record::Names| {
        names.get("en").map(|s| s.to_string()).unwrap_or_default()
    };
    writeln!(out, "ip_address    {}", answer.ip)?;
    writeln!(out, "network       {}", answer.network)?;
    if let Some(place) = &answer.place {
        let p = &place.data;
        if let Some(c) = &p.continent {
            writeln!(
                out,
                "continent     {} {}",
                c.code.as_deref().unwrap_or(""),
                en(&c.names)
            )?;
        }
        if let Some(c) = &p.country {
            writeln!(
                out,
                "country       {} {}{}",
                c.iso_code.as_deref().unwrap_or(""),
                en(&c.names),
                if c.is_in_european_union { " (EU)" } else { "" }
            )?;
        }
        if let Some(c) = &p.registered_country {
            writeln!(
                out,
                "registered    {} {}",
                c.iso_code.as_deref().unwrap_or(""),
                en(&c.names)
            )?;
        }
        for s in &p.subdivisions {
            writeln!(
                out,
                "subdivision   {} {}",
                s.iso_code.as_deref().unwrap_or(""),
                en(&s.names)
            )?;
        }
        if let Some(c) = &p.city {
            writeln!(out, "city          {}", en(&c.names))?;
        }
        if let Some(postal) = p.postal.as_ref().and_then(|x| x.code.as_deref()) {
            writeln!(out, "postal        {postal}")?;
        }
        if let Some(l) = &p.location {
            if let (Some(lat), Some(lon)) = (l.latitude, l.longitude) {
                writeln!(
                    out,
                    "location      {lat}, {lon} (±{} km)",
                    l.accuracy_radius.unwrap_or(0)
                )?;
            }
            if let Some(tz) = &l.time_zone {
                writeln!(out, "time_zone     {tz}")?;
            }
        }
    }
    if let Some(t) = &answer.network_traits {
        let t = &t.data;
        if let Some(asn) = t.autonomous_system_number {
            writeln!(
                out,
                "asn           AS{asn} {}",
                t.autonomous_system_organization.as_deref().unwrap_or("")
            )?;
        }
        for (label, value) in [
            ("isp", &t.isp),
            ("organization", &t.organization),
            ("connection", &t.connection_type),
            ("domain", &t.domain),
        ] {
            if let Some(v) = value {
                writeln!(out, "{label:<13} {v}")?;
            }
        }
    }
    if let Some(a) = &answer.anonymity {
        let a = &a.data;
        let flags: Vec<&str> = [
            (a.is_anonymous, "anonymous"),
            (a.is_anonymous_vpn, "vpn"),
            (a.is_hosting_provider, "hosting"),
            (a.is_public_proxy, "public-proxy"),
            (a.is_residential_proxy, "residential-proxy"),
            (a.is_tor_exit_node, "tor-exit"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        writeln!(out, "anonymity     {}", flags.join(" "))?;
    }
    Ok(EXIT_OK)
}
