//! Subcommands that do not serve: keys, lookup, data, check-config.
//! Each returns the process exit code; `main` maps errors to 2.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use ipintel_core::accounts::{self, Plans};
use ipintel_core::geo::{build, GeoDb, GeoError, GeoOptions, GeoService};
use ipintel_core::store::{RevokeTarget, Store};

use crate::cli::{DataCommand, KeysCommand, LookupArgs};
use crate::config::Config;

pub const EXIT_OK: i32 = 0;

pub use crate::render::rfc3339;
pub const EXIT_NOT_FOUND: i32 = 1;

/// The store the server uses. A command other than `serve` does not create one unless asked:
/// a store created by mistake (a wrong directory) would hold keys the server never sees.
async fn open_store(config: &Config, create: bool) -> anyhow::Result<Store> {
    let path = config.store_path();
    if !path.exists() && !create {
        bail!(
            "no store at {} (data directory from {}).\n\
             Start `ipintel serve` once to create it, point at the server's with --data-dir or IPINTEL_DATA_DIR,\n\
             or pass --create to start a new one there.",
            path.display(),
            config
                .sources
                .get("data_dir")
                .map_or("the default", String::as_str)
        );
    }
    crate::app::prepare_data_dir(config)?;
    Store::open_sqlite(&path)
        .await
        .with_context(|| format!("opening store {}", config.store_path().display()))
}

fn print_key(
    new: &accounts::NewKey,
    json: bool,
    shell: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if shell {
        // Keys are [A-Za-z0-9_]: nothing to quote.
        writeln!(out, "ACCOUNT_ID={}\nKEY={}", new.account_id, new.key)?;
    } else if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"account_id": new.account_id, "key": new.key})
        )?;
    } else {
        writeln!(
            out,
            "account_id: {}\nkey:        {}\n(the key is shown only now; store it safely)",
            new.account_id, new.key
        )?;
    }
    Ok(())
}

fn parse_limit(value: &str, unlimited_word: &str) -> anyhow::Result<Option<u64>> {
    if value == unlimited_word {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .with_context(|| format!("expected a number or {unlimited_word:?}, got {value:?}"))
}

pub async fn keys(config: &Config, command: KeysCommand, create: bool) -> anyhow::Result<i32> {
    let store = open_store(config, create).await?;
    let plans: Plans = config.plans()?;
    let mut out = std::io::stdout().lock();
    match command {
        KeysCommand::Create {
            plan,
            credits,
            daily_quota,
            label,
            json,
            shell,
        } => {
            let new = accounts::create_account(&store, &plans, &plan, credits, daily_quota, &label)
                .await?;
            print_key(&new, json, shell, &mut out)?;
        }
        KeysCommand::Add { account, json } => {
            let new = accounts::add_key(&store, account).await?;
            print_key(&new, json, false, &mut out)?;
        }
        KeysCommand::List { json } => {
            let rows = store.accounts().await?;
            let keys = store.keys().await?;
            if json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|a| {
                        let ks: Vec<_> = keys
                            .iter()
                            .filter(|k| k.account_id == a.id)
                            .map(|k| serde_json::json!({"prefix": k.key_prefix, "created_at": rfc3339(k.created_at), "revoked_at": k.revoked_at.map(rfc3339)}))
                            .collect();
                        serde_json::json!({
                            "account_id": a.id, "plan": a.plan, "label": a.label,
                            "created_at": rfc3339(a.created_at),
                            "credits_granted": a.credits_granted, "credits_used": a.credits_used,
                            "daily_quota": a.daily_quota, "keys": ks,
                        })
                    })
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                writeln!(
                    out,
                    "{:<8} {:<8} {:<16} {:<12} {:<21} label",
                    "account", "plan", "credits left", "daily_quota", "created"
                )?;
                for a in &rows {
                    let credits = a
                        .credits_granted
                        .map(|g| format!("{} of {}", g.saturating_sub(a.credits_used), g))
                        .unwrap_or_else(|| "unlimited".into());
                    let quota = a
                        .daily_quota
                        .map(|q| q.to_string())
                        .unwrap_or_else(|| "plan's".into());
                    writeln!(
                        out,
                        "{:<8} {:<8} {:<16} {:<12} {:<21} {}",
                        a.id,
                        a.plan,
                        credits,
                        quota,
                        rfc3339(a.created_at),
                        a.label
                    )?;
                    for k in keys.iter().filter(|k| k.account_id == a.id) {
                        let state = match k.revoked_at {
                            Some(t) => format!("revoked {}", rfc3339(t)),
                            None => "live".into(),
                        };
                        writeln!(
                            out,
                            "  key {:<16} created {}  {state}",
                            k.key_prefix,
                            rfc3339(k.created_at)
                        )?;
                    }
                }
            }
        }
        KeysCommand::Show { account, json } => {
            let row = store
                .accounts()
                .await?
                .into_iter()
                .find(|a| a.id == account)
                .with_context(|| format!("no account {account}"))?;
            let keys: Vec<_> = store
                .keys()
                .await?
                .into_iter()
                .filter(|k| k.account_id == account)
                .collect();
            let today = accounts::utc_day(std::time::SystemTime::now());
            let used_today = store
                .day_usage(today)
                .await?
                .into_iter()
                .find(|(id, _)| *id == account)
                .map(|(_, used)| used)
                .unwrap_or(0);
            let plan = plans.get(&row.plan);
            let quota = row.daily_quota.or(plan.and_then(|p| p.daily_quota));
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({
                        "account_id": row.id, "plan": row.plan, "label": row.label,
                        "credits_granted": row.credits_granted, "credits_used": row.credits_used,
                        "daily_quota": quota, "used_today": used_today,
                        "services": plan.map(|p| p.services.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
                        "keys": keys.iter().map(|k| serde_json::json!({"prefix": k.key_prefix, "revoked": k.revoked_at.is_some()})).collect::<Vec<_>>(),
                    })
                )?;
            } else {
                writeln!(
                    out,
                    "account:     {}\nplan:        {}\nlabel:       {}",
                    row.id, row.plan, row.label
                )?;
                match row.credits_granted {
                    Some(g) => writeln!(
                        out,
                        "credits:     {} left of {}",
                        g.saturating_sub(row.credits_used),
                        g
                    )?,
                    None => writeln!(out, "credits:     unlimited ({} used)", row.credits_used)?,
                }
                match quota {
                    Some(q) => writeln!(out, "daily quota: {used_today} of {q} used today (UTC)")?,
                    None => writeln!(out, "daily quota: unlimited ({used_today} used today)")?,
                }
                for k in keys {
                    writeln!(
                        out,
                        "key:         {}… {}",
                        k.key_prefix,
                        if k.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "live"
                        }
                    )?;
                }
            }
        }
        KeysCommand::Revoke { key, account } => {
            let n = match (key, account) {
                (_, Some(id)) => store.revoke(RevokeTarget::Account(id)).await?,
                (Some(key), None) => accounts::revoke_key(&store, &key).await?,
                (None, None) => bail!("give a key or --account"),
            };
            if n == 0 {
                bail!("no live key matched");
            }
            writeln!(out, "revoked {n} key(s)")?;
        }
        KeysCommand::Update {
            account,
            plan,
            credits,
            daily_quota,
        } => {
            if let Some(p) = &plan {
                if plans.get(p).is_none() {
                    bail!("unknown plan {p:?} (plans: {})", plans.names().join(", "));
                }
            }
            let credits = credits.map(|c| parse_limit(&c, "unlimited")).transpose()?;
            let quota = daily_quota.map(|q| parse_limit(&q, "plan")).transpose()?;
            store
                .update_account(account, plan.as_deref(), credits, quota)
                .await?;
            writeln!(out, "account {account} updated")?;
        }
    }
    Ok(EXIT_OK)
}

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
    let set = geo.snapshot();
    let mut out = std::io::stdout().lock();
    let answer = match set.lookup(ip) {
        Ok(answer) => answer,
        Err(e @ (GeoError::Reserved(_) | GeoError::NotFound(_))) => {
            writeln!(out, "{e}")?;
            return Ok(EXIT_NOT_FOUND);
        }
        Err(GeoError::NoDatabases) => bail!(
            "no MMDB database found in {:?}; run scripts/fetch-data.sh or pass --mmdb",
            geo.paths()
        ),
        Err(e) => return Err(e.into()),
    };
    if args.json {
        out.write_all(&crate::api::maxmind::render_insights(&answer))?;
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

pub fn data(command: DataCommand) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    match command {
        DataCommand::BuildAsn { out: path, inputs } => {
            let report = build::build_asn(&inputs, &path)?;
            report_build(&mut out, &path, &report)?;
        }
        DataCommand::Build {
            database_type,
            out: path,
            source,
        } => {
            let report = build::build_from_json(&source, &database_type, &path)?;
            report_build(&mut out, &path, &report)?;
        }
        DataCommand::Info { files } => {
            for file in files {
                let db = GeoDb::open(&file, true)?;
                writeln!(
                    out,
                    "{}: kind {} (database_type {}), built {}",
                    file.display(),
                    db.kind,
                    db.database_type,
                    rfc3339(db.build_epoch as i64)
                )?;
            }
        }
    }
    Ok(EXIT_OK)
}

fn report_build(
    out: &mut impl Write,
    path: &std::path::Path,
    report: &build::BuildReport,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "wrote {} ({} networks, {} skipped)",
        path.display(),
        report.n_written,
        report.n_skipped
    )?;
    for example in &report.examples_skipped {
        writeln!(out, "  skipped: {example}")?;
    }
    Ok(())
}

/// `ipintel registry ...`.
pub async fn registry(
    config: &Config,
    command: crate::cli::RegistryCommand,
    create: bool,
) -> anyhow::Result<i32> {
    use crate::cli::RegistryCommand;
    use ipintel_core::registry::service;
    // An import makes the store when asked to, like `keys create --create`.
    match command {
        RegistryCommand::Import {
            source,
            serial,
            json,
            files,
        } => {
            let store = open_store(config, create).await?;
            let started = std::time::Instant::now();
            let mut progress = ImportProgress::new();
            let result = service::import(&store, &source, &files, serial, &mut progress).await;
            progress.finish();
            store.close().await;
            let summary = match result {
                Ok(summary) => summary,
                Err(e) => {
                    eprintln!("error: {e}\nnothing was imported.");
                    return Ok(1);
                }
            };
            let seconds = started.elapsed().as_secs_f64();
            if json {
                let left = |l: &Vec<ipintel_core::registry::import::Left>| {
                    l.iter()
                        .map(|l| serde_json::json!({"file": l.file, "line": l.line, "reason": l.reason}))
                        .collect::<Vec<_>>()
                };
                println!(
                    "{}",
                    serde_json::json!({
                        "source": source.to_ascii_uppercase(),
                        "read": summary.read, "added": summary.added, "changed": summary.changed,
                        "unchanged": summary.unchanged, "deleted": summary.deleted,
                        "repeated": summary.repeated, "skipped": left(&summary.skipped),
                        "warnings": summary.warnings, "warning_examples": left(&summary.warning_examples),
                        "seconds": seconds,
                        "phases": summary.phases.iter().map(|(p, s)| (p.to_string(), serde_json::json!(s))).collect::<serde_json::Map<_, _>>(),
                    })
                );
            } else {
                println!(
                    "{}: read {} objects in {seconds:.1} s ({:.0}/s): {} added, {} changed, {} unchanged, {} deleted, {} skipped",
                    source.to_ascii_uppercase(),
                    summary.read,
                    summary.read as f64 / seconds.max(1e-9),
                    summary.added,
                    summary.changed,
                    summary.unchanged,
                    summary.deleted,
                    summary.skipped.len(),
                );
                let phases: Vec<String> = summary
                    .phases
                    .iter()
                    .map(|(p, s)| format!("{p} {s:.1} s"))
                    .collect();
                println!("  {}", phases.join(", "));
                if summary.repeated > 0 {
                    println!(
                        "{} objects appeared more than once; the last one was kept",
                        summary.repeated
                    );
                }
                for left in summary.skipped.iter().take(20) {
                    println!("skipped {}:{}: {}", left.file, left.line, left.reason);
                }
                if summary.skipped.len() > 20 {
                    println!(
                        "... and {} more skipped (--json lists all)",
                        summary.skipped.len() - 20
                    );
                }
                if summary.warnings > 0 {
                    println!(
                        "{} objects imported with template warnings, e.g.:",
                        summary.warnings
                    );
                    for left in summary.warning_examples.iter().take(5) {
                        println!("  {}:{}: {}", left.file, left.line, left.reason);
                    }
                }
            }
            Ok(0)
        }
        RegistryCommand::Remove { source } => {
            let store = open_store(config, false).await?;
            let result = service::remove(&store, &source).await;
            store.close().await;
            match result {
                Ok(n) => {
                    println!(
                        "{}: removed, {n} objects deleted",
                        source.to_ascii_uppercase()
                    );
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(1)
                }
            }
        }
        RegistryCommand::Sources { json } => {
            let store = open_store(config, false).await?;
            let sources = store.registry_sources().await?;
            store.close().await;
            if json {
                let rows: Vec<_> = sources
                    .iter()
                    .map(|s| serde_json::json!({"source": s.name, "serial": s.serial, "imported_at": rfc3339(s.imported_at), "objects": s.objects}))
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else if sources.is_empty() {
                println!(
                    "no sources: import one with `ipintel registry import --source NAME FILE...`"
                );
            } else {
                println!(
                    "{:<20} {:>10} {:>12}  imported",
                    "source", "serial", "objects"
                );
                for s in sources {
                    let serial = s.serial.map_or("-".to_string(), |n| n.to_string());
                    println!(
                        "{:<20} {serial:>10} {:>12}  {}",
                        s.name,
                        s.objects,
                        rfc3339(s.imported_at)
                    );
                }
            }
            Ok(0)
        }
    }
}

/// The import's progress bar on a terminal (bytes, objects/s, ETA); nothing otherwise.
struct ImportProgress {
    bar: Option<indicatif::ProgressBar>,
}

impl ImportProgress {
    fn new() -> ImportProgress {
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar
        });
        ImportProgress { bar }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl ipintel_core::registry::service::Progress for ImportProgress {
    fn bytes(&mut self, read: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(read);
        }
    }

    fn objects(&mut self, parsed: u64) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{parsed} obj"));
        }
    }

    fn phase(&mut self, name: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(name.to_string());
        }
    }
}
