//! Import of dump files into a source: read (gzip or not, UTF-8 or ISO-8859-1), parse,
//! admit each object as the index would, and work out what changes against what the store
//! holds (added, changed, unchanged, deleted), so the store applies one import in one
//! transaction and nothing is half-applied. No SQL here: the store interface applies it.

use std::hash::BuildHasher;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::index::admit;
use super::rpsl::{decode, parse, RpslObject};
use crate::store::{text_digest, NewObject, RegistryChanges, StoredDigest, TextSpill};

/// Decompressed bytes a dump is read and parsed in, cut at an empty line (an object is
/// never split); an object larger than this grows the chunk.
const CHUNK_BYTES: usize = 8 << 20;

/// Largest dump file accepted, decompressed (RIPE's whole `ripe.db` is about 6 GB
/// decompressed; its split files are well under this).
pub const MAX_FILE_BYTES: u64 = 8 << 30;

/// Why a file could not be read; the import stops and changes nothing.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct ReadError {
    pub file: String,
    pub reason: String,
}

/// An object admitted into `source`, as an import and a mirror admit it.
#[derive(Debug)]
struct Taken {
    class: &'static str,
    object: NewObject,
    /// The first thing the template finds wrong: a warning, the object is kept.
    warning: Option<String>,
}

/// Admit `object` into `source`: keys rewritten as IRRd stores them (`AS065537` is
/// `AS65537`), the class known, the key valid, the `source:` the imported one.
fn take(source: &str, object: RpslObject) -> Result<Taken, String> {
    let object = super::normalise::normalise_keys(object);
    let facts = admit(&object)?;
    let written = object
        .value("source")
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("");
    if !written.eq_ignore_ascii_case(source) {
        return Err(if written.is_empty() {
            "no source attribute".to_string()
        } else {
            format!("source {written:?}, not {source}")
        });
    }
    let warning = object
        .problems_against(facts.template)
        .first()
        .map(|first| format!("{} {}: {first}", facts.template.class, facts.key));
    let text: String = object.text.into();
    Ok(Taken {
        class: facts.template.class,
        object: NewObject {
            class: facts.template.class,
            key: facts.canonical,
            digest: text_digest(&text),
            text: text.into(),
        },
        warning,
    })
}

/// One object of a mirrored source's journal, admitted as an import would admit it.
pub fn journal_object(source: &str, text: &str) -> Result<NewObject, String> {
    match parse(text).next() {
        Some(Ok(object)) => take(source, object).map(|taken| taken.object),
        Some(Err(e)) => Err(e.reason),
        None => Err("no object".into()),
    }
}

/// Read one dump file in chunks of about [`CHUNK_BYTES`], each ending at an empty line so
/// no object is split: gunzipped when it starts with gzip's magic bytes (whatever its
/// name), each chunk decoded as UTF-8 when valid, else ISO-8859-1. `each` gets a chunk and
/// the line number it starts at; `progress` hears the bytes read from disk. A corrupt or
/// truncated gzip stream names the line it broke at. Nothing holds more than a chunk.
pub fn read_dump_chunks(
    path: &Path,
    progress: &mut dyn FnMut(u64),
    each: &mut dyn FnMut(&str, usize) -> Result<(), String>,
) -> Result<(), ReadError> {
    read_in_chunks_of(path, CHUNK_BYTES, progress, each)
}

fn read_in_chunks_of(
    path: &Path,
    chunk: usize,
    progress: &mut dyn FnMut(u64),
    each: &mut dyn FnMut(&str, usize) -> Result<(), String>,
) -> Result<(), ReadError> {
    let file_name = path.display().to_string();
    let fail = |reason: String| ReadError {
        file: file_name.clone(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut counted = Counted {
        inner: std::io::BufReader::with_capacity(1 << 16, file),
        progress,
    };
    let mut magic = [0u8; 2];
    let mut head = 0;
    while head < 2 {
        match counted
            .read(&mut magic[head..])
            .map_err(|e| fail(e.to_string()))?
        {
            0 => break,
            n => head += n,
        }
    }
    let gzip = magic[..head] == [0x1f, 0x8b];
    let chained = std::io::Cursor::new(magic[..head].to_vec()).chain(counted);
    let mut reader: Box<dyn Read + '_> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(chained))
    } else {
        Box::new(chained)
    };
    let step = chunk.clamp(1, 1 << 20);
    let mut buf: Vec<u8> = Vec::with_capacity(chunk + step);
    let mut line = 1usize;
    let mut total = 0u64;
    loop {
        let filled = buf.len();
        buf.resize(filled + step, 0);
        let read = loop {
            match reader.read(&mut buf[filled..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                let at = line + buf[..filled].iter().filter(|&&b| b == b'\n').count();
                return Err(fail(if gzip {
                    format!("the gzip data is corrupt or cut short at line {at}: {e}")
                } else {
                    format!("read error at line {at}: {e}")
                }));
            }
        };
        buf.truncate(filled + n);
        total += n as u64;
        if total > MAX_FILE_BYTES {
            return Err(fail(format!(
                "larger than {} GiB decompressed",
                MAX_FILE_BYTES >> 30
            )));
        }
        let end = n == 0;
        if buf.len() < chunk && !end {
            continue;
        }
        let cut = if end {
            Some(buf.len())
        } else {
            paragraph_end(&buf)
        };
        if let Some(cut) = cut {
            let text = decode(&buf[..cut]);
            each(&text, line).map_err(fail)?;
            line += buf[..cut].iter().filter(|&&b| b == b'\n').count();
            buf.drain(..cut);
        }
        if end {
            return Ok(());
        }
    }
}

/// Just after the last empty line in `bytes` (`\n\n` or `\n\r\n`), where a chunk can end.
fn paragraph_end(bytes: &[u8]) -> Option<usize> {
    let mut at = bytes.len();
    while at > 1 {
        let i = bytes[..at].iter().rposition(|&b| b == b'\n')?;
        if i > 0 && bytes[i - 1] == b'\n' {
            return Some(i + 1);
        }
        if i > 1 && bytes[i - 1] == b'\r' && bytes[i - 2] == b'\n' {
            return Some(i + 1);
        }
        at = i;
    }
    None
}

struct Counted<'a, R> {
    inner: R,
    progress: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// An object the import left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// What one import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Objects read from the files (before skipping).
    pub read: u64,
    pub added: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub deleted: u64,
    /// Objects that appeared again later in the same import (the later one is kept).
    pub repeated: u64,
    pub skipped: Vec<Left>,
    /// Objects kept although their template finds fault (a missing mandatory attribute,
    /// an unknown one), counted; the first few are listed.
    pub warnings: u64,
    pub warning_examples: Vec<Left>,
    /// Seconds spent reading and parsing, comparing with the store, writing.
    pub phases: Vec<(&'static str, f64)>,
}

/// Warnings listed by name in a summary; the rest are counted.
const WARNING_EXAMPLES: usize = 20;

/// A piece of a dump parsed and admitted (see [`take_piece`]): the work that runs on every
/// core, before the importer takes the objects in order.
#[derive(Debug, Default)]
pub struct Piece {
    /// Objects read (before skipping).
    read: u64,
    items: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    Taken { line: usize, taken: Taken },
    Skipped { line: usize, reason: String },
}

/// Parse and admit every object of `text`, a piece of a dump starting at line
/// `first_line`, into `source`: objects of another source (the `source:` attribute), of
/// unknown classes or with keys that do not parse are skipped with their line (non-strict,
/// as IRRd imports).
pub fn take_piece(source: &str, text: &str, first_line: usize) -> Piece {
    let lines = first_line - 1;
    let mut piece = Piece::default();
    for parsed in parse(text) {
        piece.read += 1;
        piece.items.push(match parsed {
            Err(e) => Item::Skipped {
                line: e.line + lines,
                reason: e.reason,
            },
            Ok(object) => {
                let line = object.line + lines;
                match take(source, object) {
                    Ok(taken) => Item::Taken { line, taken },
                    Err(reason) => Item::Skipped { line, reason },
                }
            }
        });
    }
    piece
}

/// The objects of one import of one source, gathered file by file: keys and digests in
/// memory, texts too or spilled to a file (a RIPE-sized import holds ~100 bytes an object).
#[derive(Debug)]
pub struct Importer {
    source: String,
    objects: Vec<NewObject>,
    /// Positions in `objects`, by (class, key): hashed, the keys not copied.
    by_key: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    spill: Option<Arc<TextSpill>>,
    summary: Summary,
    /// Per object, once compared: 0 new, 1 unchanged, 2 changed.
    state: Vec<u8>,
    /// Stored objects the files no longer hold.
    deleted: Vec<(String, String)>,
}

impl Importer {
    /// An import into `source` (any case; stored upper case), texts held in memory.
    pub fn new(source: &str) -> Importer {
        Importer {
            source: source.to_ascii_uppercase(),
            objects: Vec::new(),
            by_key: hashbrown::HashTable::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            spill: None,
            summary: Summary::default(),
            state: Vec::new(),
            deleted: Vec::new(),
        }
    }

    /// An import whose texts are spilled to `spill` as they are read.
    pub fn spilled(source: &str, spill: TextSpill) -> Importer {
        Importer {
            spill: Some(Arc::new(spill)),
            ..Importer::new(source)
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// What was read and skipped so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Objects gathered so far.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    fn position(&self, class: &str, key: &str) -> Option<usize> {
        let hash = self.hasher.hash_one((class, key));
        self.by_key
            .find(hash, |&at| {
                let o = &self.objects[at as usize];
                o.class == class && o.key == key
            })
            .map(|&at| at as usize)
    }

    /// Take every object of one file's text (see [`add_text_at`](Self::add_text_at)).
    pub fn add_text(&mut self, file: &str, text: &str) -> Result<(), String> {
        self.add_text_at(file, text, 1)
    }

    /// Take every object of a piece of a file that starts at line `first_line` (see
    /// [`take_piece`] and [`merge`](Self::merge)).
    pub fn add_text_at(&mut self, file: &str, text: &str, first_line: usize) -> Result<(), String> {
        let piece = take_piece(&self.source, text, first_line);
        self.merge(file, piece)
    }

    /// Add a piece's objects, in order: a later object with the same class and key
    /// replaces an earlier one; skipped objects and template warnings are counted with
    /// the file and line. Fails only when a spilled text cannot be written.
    pub fn merge(&mut self, file: &str, piece: Piece) -> Result<(), String> {
        self.summary.read += piece.read;
        for item in piece.items {
            let (line, taken) = match item {
                Item::Skipped { line, reason } => {
                    self.skip(file, line, reason);
                    continue;
                }
                Item::Taken { line, taken } => (line, taken),
            };
            if let Some(warning) = taken.warning {
                self.summary.warnings += 1;
                if self.summary.warning_examples.len() < WARNING_EXAMPLES {
                    self.summary.warning_examples.push(Left {
                        file: file.to_string(),
                        line,
                        reason: warning,
                    });
                }
            }
            let mut new = taken.object;
            if let (Some(spill), crate::store::ObjectText::Inline(text)) = (&self.spill, &new.text)
            {
                new.text = spill
                    .push(text)
                    .map_err(|e| format!("writing the import's spill file: {e}"))?;
                // The key was allocated on a parsing thread between that piece's large
                // temporaries; a copy made here sits with the other kept keys, so the
                // piece's pages are wholly free once it is dropped and go back to the
                // system (ten million keys held 0.5 GB of such pages).
                new.key = new.key.as_str().to_owned();
            }
            match self.position(taken.class, &new.key) {
                Some(at) => {
                    self.summary.repeated += 1;
                    self.objects[at] = new;
                }
                None => {
                    let at = u32::try_from(self.objects.len())
                        .map_err(|_| "more than 4 billion objects in one import".to_string())?;
                    let hash = self.hasher.hash_one((new.class, new.key.as_str()));
                    self.objects.push(new);
                    let (objects, hasher) = (&self.objects, &self.hasher);
                    self.by_key.insert_unique(hash, at, |&i| {
                        let o = &objects[i as usize];
                        hasher.hash_one((o.class, o.key.as_str()))
                    });
                }
            }
        }
        Ok(())
    }

    fn skip(&mut self, file: &str, line: usize, reason: String) {
        self.summary.skipped.push(Left {
            file: file.to_string(),
            line,
            reason,
        });
    }

    /// Compare with one stored object of the source. Every stored object is seen once,
    /// as the store streams them, before [`finish`](Self::finish).
    pub fn compare(&mut self, class: &str, key: &str, digest: i64) {
        if self.state.len() != self.objects.len() {
            self.state.resize(self.objects.len(), 0);
        }
        match self.position(class, key) {
            Some(i) if self.objects[i].digest == digest => self.state[i] = 1,
            Some(i) => self.state[i] = 2,
            None => self.deleted.push((class.to_string(), key.to_string())),
        }
    }

    /// [`compare`](Self::compare) with every row of `current`, then
    /// [`finish`](Self::finish).
    pub fn plan(
        mut self,
        current: Vec<StoredDigest>,
        generation: i64,
        serial: Option<i64>,
        at: i64,
    ) -> (RegistryChanges, Summary) {
        for row in current {
            self.compare(&row.class, &row.key, row.digest);
        }
        self.finish(generation, serial, at)
    }

    /// What this import changes against the stored objects it was compared with (read at
    /// `generation`): every object is added, changed or unchanged, and every stored object
    /// the files no longer hold is deleted. `at` dates the versions it makes.
    pub fn finish(
        mut self,
        generation: i64,
        serial: Option<i64>,
        at: i64,
    ) -> (RegistryChanges, Summary) {
        if let Some(spill) = &self.spill {
            // Read back while the store writes: everything pushed must be on disk.
            if let Err(e) = spill.flush() {
                tracing::warn!(error = %e, "import spill file flush failed");
            }
        }
        let mut changes = RegistryChanges {
            source: self.source.clone(),
            serial,
            at,
            generation,
            spill: self.spill.clone(),
            deleted: std::mem::take(&mut self.deleted),
            ..Default::default()
        };
        // What each object is against the store: 0 new, 1 unchanged, 2 changed.
        let mut state = std::mem::take(&mut self.state);
        state.resize(self.objects.len(), 0);
        self.by_key = hashbrown::HashTable::new();
        // Split in place: the additions keep the objects' own vector (a fresh import of
        // ten million objects would otherwise hold them twice for a moment, 0.7 GB more).
        let mut objects = std::mem::take(&mut self.objects);
        let mut states = state.into_iter();
        let unchanged = &mut self.summary.unchanged;
        objects.retain_mut(|object| match states.next() {
            Some(0) => true,
            Some(1) => {
                *unchanged += 1;
                false
            }
            _ => {
                changes
                    .changed
                    .push(std::mem::replace(object, NewObject::empty()));
                false
            }
        });
        changes.added = objects;
        // Deletions in key order: the history reads the same whatever the hash order.
        changes.deleted.sort_unstable();
        self.summary.added = changes.added.len() as u64;
        self.summary.changed = changes.changed.len() as u64;
        self.summary.deleted = changes.deleted.len() as u64;
        (changes, self.summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// One dump file whole, through the chunked reader.
    fn read_dump(path: &Path, progress: &mut dyn FnMut(u64)) -> Result<String, ReadError> {
        let mut whole = String::new();
        read_dump_chunks(path, progress, &mut |text, _| {
            whole.push_str(text);
            Ok(())
        })?;
        Ok(whole)
    }

    const DUMP: &str = "\
# RIPE-like header
mntner: EX-MNT
auth: MD5-PW $1$abc$0123456789012345678901
mnt-by: EX-MNT
source: TEST

inetnum: 192.0.2.0/24
netname: EX-NET
source: TEST

inetnum: 198.51.100.0 - 198.51.100.255
netname: OTHER
source: ELSEWHERE

aut-num: ASX
source: TEST
";

    fn importer() -> Importer {
        let mut importer = Importer::new("test");
        importer.add_text("dump", DUMP).unwrap();
        importer
    }

    fn text_of(changes: &RegistryChanges, o: &NewObject) -> String {
        changes.text(o).unwrap().into_owned()
    }

    /// Texts spilled to a file come back the same; the file goes with the import.
    #[test]
    fn a_spilled_import_plans_the_same_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut spilled = Importer::spilled("test", TextSpill::create(dir.path()).unwrap());
        spilled.add_text("dump", DUMP).unwrap();
        spilled.add_text("dump", DUMP).unwrap();
        let (held, _) = importer().plan(vec![], 0, None, 100);
        let (changes, summary) = spilled.plan(vec![], 0, None, 100);
        assert_eq!(summary.repeated, 2);
        assert!(matches!(
            changes.added[0].text,
            crate::store::ObjectText::Spilled { .. }
        ));
        let texts = |c: &RegistryChanges| -> Vec<String> {
            c.added.iter().map(|o| text_of(c, o)).collect()
        };
        assert_eq!(texts(&changes), texts(&held));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(changes);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the spill file is removed"
        );
    }

    /// Chunks end at empty lines: objects are never split, line numbers run on, and a
    /// chunk smaller than one object grows to hold it.
    #[test]
    fn dumps_are_read_in_chunks_that_never_split_an_object() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dump.db");
        // Windows line ends on the empty lines, and a separator between the copies.
        let body = format!("{DUMP}\n").replace("\n\n", "\n\r\n").repeat(3);
        std::fs::write(&file, &body).unwrap();
        for size in [1, 7, 64, 100, 1 << 20] {
            let mut importer = Importer::new("test");
            let mut pieces = 0;
            read_in_chunks_of(&file, size, &mut |_| {}, &mut |text, line| {
                pieces += 1;
                importer.add_text_at("dump", text, line)
            })
            .unwrap();
            let summary = importer.summary();
            assert_eq!(summary.read, 12, "chunks of {size}");
            let lines: Vec<usize> = summary.skipped.iter().map(|s| s.line).collect();
            let per = DUMP.lines().count() + 1;
            assert_eq!(
                lines,
                [11, 15, 11 + per, 15 + per, 11 + 2 * per, 15 + 2 * per],
                "chunks of {size}"
            );
            assert!(size > 1000 || pieces > 1, "chunks of {size}: {pieces}");
        }
    }

    #[test]
    fn objects_of_other_sources_and_bad_keys_are_skipped_with_their_line() {
        let (changes, summary) = importer().plan(vec![], 0, Some(5), 100);
        assert_eq!(summary.read, 4);
        assert_eq!(summary.added, 2);
        let lines: Vec<(usize, &str)> = summary
            .skipped
            .iter()
            .map(|s| (s.line, s.reason.as_str()))
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].0, 11);
        assert!(lines[0].1.contains("ELSEWHERE"), "{lines:?}");
        assert_eq!(lines[1].0, 15);
        assert!(lines[1].1.contains("AS number"), "{lines:?}");
        assert_eq!(changes.source, "TEST");
        let keys: Vec<&str> = changes.added.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["ex-mnt", "192.0.2.0 - 192.0.2.255"]);
        assert!(text_of(&changes, &changes.added[1]).starts_with("inetnum: 192.0.2.0/24\n"));
        assert!(
            summary.warnings >= 1,
            "the mntner lacks mandatory attributes"
        );
    }

    #[test]
    fn a_second_generation_is_diffed_against_the_first() {
        let (first, _) = importer().plan(vec![], 0, None, 100);
        let rows: Vec<StoredDigest> = first
            .added
            .iter()
            .map(|o| StoredDigest {
                class: o.class.to_string(),
                key: o.key.clone(),
                digest: text_digest(&text_of(&first, o)),
            })
            .chain([StoredDigest {
                class: "person".into(),
                key: "gone1-test".into(),
                digest: text_digest("person: Gone\nnic-hdl: GONE1-TEST\nsource: TEST\n"),
            }])
            .collect();
        let mut next = Importer::new("TEST");
        next.add_text(
            "next",
            "mntner: EX-MNT\nauth: MD5-PW $1$abc$0123456789012345678901\nmnt-by: EX-MNT\nsource: TEST\n\n\
             inetnum: 192.0.2.0 - 192.0.2.255\nnetname: EX-NET-RENAMED\nsource: TEST\n",
        )
        .unwrap();
        let (changes, summary) = next.plan(rows, 1, None, 200);
        assert_eq!(
            (
                summary.added,
                summary.changed,
                summary.unchanged,
                summary.deleted
            ),
            (0, 1, 1, 1),
            "the inetnum written as a range is the same object as the CIDR one"
        );
        assert_eq!(changes.changed[0].key, "192.0.2.0 - 192.0.2.255");
        assert_eq!(
            changes.deleted,
            [("person".to_string(), "gone1-test".to_string())]
        );
    }

    #[test]
    fn the_same_object_twice_keeps_the_later() {
        let mut importer = Importer::new("TEST");
        importer
            .add_text("a", "person: A\nnic-hdl: X1-TEST\nsource: TEST\n")
            .unwrap();
        importer
            .add_text("b", "person: B\nnic-hdl: x1-test\nsource: TEST\n")
            .unwrap();
        let (changes, summary) = importer.plan(vec![], 0, None, 1);
        assert_eq!((summary.added, summary.repeated), (1, 1));
        assert!(text_of(&changes, &changes.added[0]).starts_with("person: B"));
    }

    #[test]
    fn gzip_plain_latin1_and_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.db");
        std::fs::write(&plain, b"person: Jos\xe9\nnic-hdl: J1-TEST\nsource: TEST\n").unwrap();
        let mut bytes = 0;
        let text = read_dump(&plain, &mut |n| bytes += n).unwrap();
        assert!(text.starts_with("person: José"));
        assert_eq!(bytes, std::fs::metadata(&plain).unwrap().len());

        let gz = dir.path().join("ripe.db.person.gz");
        let body: String = (0..2000)
            .map(|i| format!("person: P {i}\nnic-hdl: P{i}-TEST\nsource: TEST\n\n"))
            .collect();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(body.as_bytes()).unwrap();
        let compressed = encoder.finish().unwrap();
        std::fs::write(&gz, &compressed).unwrap();
        assert_eq!(read_dump(&gz, &mut |_| {}).unwrap(), body);

        // Cut short, and corrupted in the middle: an error naming a line, never a panic.
        std::fs::write(&gz, &compressed[..compressed.len() / 2]).unwrap();
        let e = read_dump(&gz, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("ripe.db.person.gz"), "{e}");
        assert!(e.reason.contains("at line"), "{e}");
        let mut corrupt = compressed.clone();
        let middle = corrupt.len() / 2;
        for b in &mut corrupt[middle..middle + 64] {
            *b = !*b;
        }
        std::fs::write(&gz, &corrupt).unwrap();
        assert!(read_dump(&gz, &mut |_| {}).is_err());
        assert!(read_dump(&dir.path().join("absent"), &mut |_| {}).is_err());
    }
}
