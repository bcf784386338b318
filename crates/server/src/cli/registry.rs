//! `ipintel registry`: import dumps into a source, remove a source, build the registry
//! file again, list the sources. An import or a removal also writes the new generation's
//! file, so a server started afterwards opens it at once.

use super::open_store;
use crate::config::Config;
use crate::render::rfc3339;

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
            // Texts wait in a spill file beside the registry files, not in memory.
            let spill = config.registry_dir();
            let result = service::import_spilled(
                &store,
                &source,
                &files,
                serial,
                &mut progress,
                Some(&spill),
            )
            .await;
            let indexed = match &result {
                Ok(_) => {
                    service::Progress::phase(&mut progress, "indexing");
                    let clock = std::time::Instant::now();
                    Some((
                        build_file(config, &store).await,
                        clock.elapsed().as_secs_f64(),
                    ))
                }
                Err(_) => None,
            };
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
            let mut summary = summary;
            let mut file = None;
            if let Some((built, indexing)) = indexed {
                summary.phases.push(("indexing", indexing));
                // The import is stored either way; a server builds the file itself.
                match built {
                    Ok(built) => file = Some(built.path.display().to_string()),
                    Err(e) => eprintln!("warning: the registry file was not written ({e}); a server builds it when it loads the registry"),
                }
            }
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
                        "seconds": seconds, "file": file,
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
            if result.is_ok() {
                if let Err(e) = build_file(config, &store).await {
                    eprintln!("warning: the registry file was not written ({e}); a server builds it when it loads the registry");
                }
            }
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
        RegistryCommand::Rebuild => {
            let store = open_store(config, false).await?;
            let clock = std::time::Instant::now();
            let built = build_file(config, &store).await;
            store.close().await;
            match built {
                Ok(built) => {
                    let size = std::fs::metadata(&built.path).map_or(0, |m| m.len());
                    println!(
                        "{}: {} objects of generation {} in {:.1} s, {:.1} MB",
                        built.path.display(),
                        built.objects,
                        built.generation,
                        clock.elapsed().as_secs_f64(),
                        size as f64 / 1e6
                    );
                    if built.skipped > 0 {
                        println!(
                            "{} stored objects could not be indexed (see the log)",
                            built.skipped
                        );
                    }
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

/// Write the registry file of the store's current generation, and remove older ones.
async fn build_file(
    config: &Config,
    store: &ipintel_core::store::Store,
) -> Result<ipintel_core::registry::files::Built, ipintel_core::store::StoreError> {
    use ipintel_core::registry::files;
    let dir = config.registry_dir();
    let built = files::build(store, &dir).await?;
    files::remove_others(&dir, built.generation);
    Ok(built)
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
