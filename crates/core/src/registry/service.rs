//! The registry a server answers from: one generation, opened from its registry file in the
//! data directory (`files.rs`: built from the store when missing, mapped, never rebuilt at
//! start when present) and again when an import (here or by the CLI in another process)
//! bumps the store's registry generation. Readers hold an `Arc` of one generation for the
//! length of a request, so an answer never mixes two.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::import::{read_dump_chunks, Importer, ReadError, Summary};
use super::index::Registry;
use super::rpsl::parse;
use crate::store::{now_unix, SourceRow, Store, StoreError};

/// One loaded generation.
#[derive(Debug, Default)]
pub struct Generation {
    pub registry: Registry,
    pub sources: Vec<SourceRow>,
    /// The store's registry generation this was loaded at.
    pub generation: i64,
    /// Unix seconds when it was loaded.
    pub loaded_at: i64,
    /// False for the empty placeholder a server starts with, before its first load.
    pub loaded: bool,
}

#[derive(Debug)]
pub struct RegistryService {
    store: Store,
    /// Where generation files live; `None` builds each generation in memory (tests, and
    /// tools that open a store without a data directory).
    dir: Option<std::path::PathBuf>,
    current: ArcSwap<Generation>,
    loading: tokio::sync::Mutex<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

impl RegistryService {
    /// A service that has loaded nothing yet (`current().loaded` is false): a server starts
    /// serving its other APIs at once and loads the registry in the background (a million
    /// objects take seconds), through [`refresh`](Self::refresh).
    pub fn new(store: Store) -> RegistryService {
        RegistryService {
            store,
            dir: None,
            current: ArcSwap::from_pointee(Generation::default()),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// A service whose generations are files in `dir` (see `files.rs`).
    pub fn with_dir(store: Store, dir: std::path::PathBuf) -> RegistryService {
        RegistryService {
            dir: Some(dir),
            ..RegistryService::new(store)
        }
    }

    /// Load the registry the store holds (empty when nothing was imported).
    pub async fn open(store: Store) -> Result<RegistryService, StoreError> {
        let service = RegistryService::new(store);
        service.reload().await?;
        Ok(service)
    }

    /// The generation requests read.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// Load if nothing is loaded yet or an import committed since the last load; returns
    /// whether it loaded.
    pub async fn refresh(&self) -> Result<bool, StoreError> {
        let generation = self.store.registry_generation().await?;
        let current = self.current.load();
        if current.loaded && generation == current.generation {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// Read every source from the store and build a new generation beside the one that
    /// serves; swap it in when complete.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.loading.lock().await;
        let generation = self.store.registry_generation().await?;
        let current = self.current.load();
        if current.loaded && generation == current.generation {
            return Ok(());
        }
        let sources = self.store.registry_sources().await?;
        let (registry, generation, sources) = match &self.dir {
            Some(dir) => super::files::open_or_build(&self.store, dir, generation, sources).await?,
            None => {
                let (registry, generation, sources) = build_in_memory(&self.store).await?;
                (registry, generation, sources)
            }
        };
        tracing::info!(objects = registry.len(), generation, "registry loaded");
        self.current.store(Arc::new(Generation {
            registry,
            sources,
            generation,
            loaded_at: now_unix(),
            loaded: true,
        }));
        if let Some(dir) = &self.dir {
            super::files::remove_others(dir, generation);
        }
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `source`'s NRTM journal from serial `first` to `last` (the newest when `None`), at
    /// most `limit` rows, with the oldest and newest serials it holds: kept in the store.
    pub async fn journal(
        &self,
        source: &str,
        first: i64,
        last: Option<i64>,
        limit: usize,
    ) -> Result<crate::store::Journal, StoreError> {
        self.store
            .registry_journal(source, first, last, limit)
            .await
    }

    /// An object's history (`/versions`): kept in the store, not in memory.
    pub async fn history(
        &self,
        source: &str,
        class: &str,
        canonical_key: &str,
    ) -> Result<crate::store::History, StoreError> {
        self.store
            .registry_history(source, class, canonical_key)
            .await
    }
}

/// The store's registry as a generation in memory (no data directory): streamed from the
/// store like a file build, into a buffer instead of a file.
async fn build_in_memory(store: &Store) -> Result<(Registry, i64, Vec<SourceRow>), StoreError> {
    let (sink, mut chunks) = tokio::sync::mpsc::channel::<(String, String)>(4);
    let building = tokio::task::spawn_blocking(move || {
        let mut objects = Vec::new();
        while let Some((source, texts)) = chunks.blocking_recv() {
            objects.extend(
                parse(&texts)
                    .filter_map(Result::ok)
                    .map(|object| (source.clone(), object)),
            );
        }
        Registry::build(objects).0
    });
    let read = store.registry_stream(sink).await;
    let registry = building
        .await
        .map_err(|e| StoreError::Db(format!("registry load failed: {e}")))?;
    let (generation, sources) = read?;
    Ok((registry, generation, sources))
}

/// How far an import is, for a progress display.
pub trait Progress: Send {
    /// Bytes of the files read from disk so far, of `total`.
    fn bytes(&mut self, _read: u64, _total: u64) {}
    /// Objects parsed so far.
    fn objects(&mut self, _parsed: u64) {}
    /// A phase begins (`reading`, `comparing`, `writing`).
    fn phase(&mut self, _name: &str) {}
}

impl Progress for () {}

/// Pieces (of 8 MiB) between two returns of freed heap to the system while reading.
const TRIM_EVERY: usize = 16;

/// Import `files` into `source` in `store`, texts held in memory (see [`import_spilled`]).
pub async fn import(
    store: &Store,
    source: &str,
    files: &[std::path::PathBuf],
    serial: Option<i64>,
    progress: &mut dyn Progress,
) -> Result<Summary, ImportError> {
    import_spilled(store, source, files, serial, progress, None).await
}

/// Import `files` into `source` in `store`: read and parse every file first, in chunks (a
/// file that cannot be read stops the import before anything is written), compare with
/// what the store holds, and apply the differences in short batches shown at once. A file
/// whose name ends in `CURRENTSERIAL` gives the serial instead of objects. With
/// `spill_dir`, object texts wait in a file there (removed at the end) instead of memory:
/// a RIPE-sized import then holds keys and digests only.
pub async fn import_spilled(
    store: &Store,
    source: &str,
    files: &[std::path::PathBuf],
    mut serial: Option<i64>,
    progress: &mut dyn Progress,
    spill_dir: Option<&Path>,
) -> Result<Summary, ImportError> {
    if source.is_empty()
        || source.len() > 64
        || !source
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ImportError::Invalid(format!(
            "source {source:?}: a name of letters, digits, - and _ (at most 64)"
        )));
    }
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mut importer = match spill_dir {
        Some(dir) => Importer::spilled(
            source,
            crate::store::TextSpill::create(dir).map_err(|e| ReadError {
                file: dir.display().to_string(),
                reason: format!("cannot create the import's spill file: {e}"),
            })?,
        ),
        None => Importer::new(source),
    };
    let mut read = 0u64;
    let mut clock = std::time::Instant::now();
    let mut lap = move || {
        let seconds = clock.elapsed().as_secs_f64();
        clock = std::time::Instant::now();
        seconds
    };
    progress.phase("reading");
    for file in files {
        let name = file.display().to_string();
        if name.ends_with("CURRENTSERIAL") {
            let text = std::fs::read_to_string(file).map_err(|e| ReadError {
                file: name.clone(),
                reason: e.to_string(),
            })?;
            serial = Some(text.trim().parse().map_err(|_| ReadError {
                file: name.clone(),
                reason: format!("{:?} is not a serial number", text.trim()),
            })?);
            continue;
        }
        // Pieces are read here, parsed and admitted on every core, and taken by the
        // importer in file order.
        let mut bytes_read = |n| {
            read += n;
            progress.bytes(read, total);
        };
        let source = importer.source().to_string();
        let mut failed = None;
        let mut pieces = 0usize;
        let taker = &mut importer;
        let (produced, _) = super::parallel::in_order(
            |push: &mut dyn FnMut((String, usize)) -> bool| {
                read_dump_chunks(Path::new(file), &mut bytes_read, &mut |text, line| {
                    if push((text.to_string(), line)) {
                        Ok(())
                    } else {
                        Err("the import stopped".into())
                    }
                })
            },
            |(text, line)| super::import::take_piece(&source, &text, line),
            |piece| {
                pieces += 1;
                if pieces % TRIM_EVERY == 0 {
                    // Pieces are parsed on other threads and freed here, bar the keys the
                    // importer keeps: the freed pages between them go back as we go.
                    crate::release_free_heap();
                }
                match taker.merge(&name, piece) {
                    Ok(()) => true,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            },
        );
        if let Some(reason) = failed {
            return Err(ReadError {
                file: name.clone(),
                reason,
            }
            .into());
        }
        produced?;
        progress.objects(importer.len() as u64);
    }
    let reading = lap();
    if importer.is_empty() {
        // Importing nothing would delete every object of the source: that is `remove`'s
        // job, asked for by name, never the accident of a wrong file or source.
        let summary = importer.summary();
        let why = summary
            .skipped
            .first()
            .map(|l| format!(" (first: {}:{}: {})", l.file, l.line, l.reason))
            .unwrap_or_default();
        return Err(ImportError::Invalid(format!(
            "no object of source {} was admitted: {} read, {} skipped{why}. To empty the source, use `ipintel registry remove {}`",
            importer.source(),
            summary.read,
            summary.skipped.len(),
            importer.source()
        )));
    }
    progress.phase("comparing");
    let generation = store.registry_generation().await?;
    // The stored digests stream past the importer (ten million of them are never held).
    let source = importer.source().to_string();
    crate::store::each_stored_digest(&**store, &source, |class, key, digest| {
        importer.compare(class, key, digest)
    })
    .await?;
    let (changes, mut summary) = importer.finish(generation, serial, now_unix());
    let comparing = lap();
    progress.phase("writing");
    store.registry_apply(&changes).await?;
    summary.phases = vec![
        ("reading", reading),
        ("comparing", comparing),
        ("writing", lap()),
    ];
    Ok(summary)
}

/// Remove a source: every object is deleted (each keeps its history, as an import that
/// dropped it would leave), and the source leaves the list. Returns how many objects went.
pub async fn remove(store: &Store, source: &str) -> Result<u64, ImportError> {
    let source = source.to_ascii_uppercase();
    if !store
        .registry_sources()
        .await?
        .iter()
        .any(|s| s.name == source)
    {
        return Err(ImportError::Invalid(format!("there is no source {source}")));
    }
    let generation = store.registry_generation().await?;
    let mut deleted = Vec::new();
    crate::store::each_stored_digest(&**store, &source, |class, key, _| {
        deleted.push((class.to_string(), key.to_string()))
    })
    .await?;
    let changes = crate::store::RegistryChanges {
        source: source.clone(),
        serial: None,
        at: now_unix(),
        generation,
        added: Vec::new(),
        changed: Vec::new(),
        deleted,
        spill: None,
    };
    store.registry_apply(&changes).await?;
    Ok(changes.deleted.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source removed and imported again never reuses a journal serial.
    #[tokio::test]
    async fn a_removed_source_imported_again_journals_after_its_old_serials() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("s.db")).await.unwrap();
        let write = |name: &str, text: &str| {
            let file = dir.path().join(name);
            std::fs::write(&file, text).unwrap();
            vec![file]
        };
        let one = write("1.db", "person: A\nnic-hdl: A1-TEST\nsource: TEST\n");
        let two = write("2.db", "person: A B\nnic-hdl: A1-TEST\nsource: TEST\n");
        import(&store, "TEST", &one, None, &mut ()).await.unwrap();
        import(&store, "TEST", &two, None, &mut ()).await.unwrap();
        assert_eq!(remove(&store, "TEST").await.unwrap(), 1);
        import(&store, "TEST", &one, None, &mut ()).await.unwrap();
        import(&store, "TEST", &two, None, &mut ())
            .await
            .expect("the change is journaled after the old serials");
        let journal = store.registry_journal("TEST", 0, None, 10).await.unwrap();
        let serials: Vec<i64> = journal.rows.iter().map(|r| r.serial).collect();
        assert_eq!(serials, [1, 2, 3], "change, removal, change again");
    }

    #[tokio::test]
    async fn a_service_loads_on_refresh_and_again_after_an_import() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("s.db")).await.unwrap();
        let service = RegistryService::new(store.clone());
        assert!(
            !service.current().loaded,
            "nothing loaded before the first refresh"
        );
        assert!(service.refresh().await.unwrap());
        assert!(service.current().loaded && service.current().registry.is_empty());
        assert!(!service.refresh().await.unwrap(), "nothing new");
        let file = dir.path().join("a.db");
        std::fs::write(&file, "person: A\nnic-hdl: A1-TEST\nsource: TEST\n").unwrap();
        let summary = import(&store, "test", &[file], Some(3), &mut ())
            .await
            .unwrap();
        assert_eq!(summary.added, 1);
        assert!(service.refresh().await.unwrap());
        let current = service.current();
        assert_eq!(current.registry.len(), 1);
        assert_eq!(current.sources[0].serial, Some(3));
        assert!(import(&store, "bad name", &[], None, &mut ())
            .await
            .is_err());
    }
}
