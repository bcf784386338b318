//! Import of dump files into a source: read (gzip or not, UTF-8 or ISO-8859-1), parse,
//! admit each object as the index would, and work out what changes against what the store
//! holds (added, changed, unchanged, deleted), so the store applies one import in one
//! transaction and nothing is half-applied. No SQL here: the store interface applies it.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use super::index::admit;
use super::rpsl::{decode, parse, RpslObject};
use crate::store::{text_digest, NewObject, RegistryChanges, StoredDigest};

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
            class: facts.template.class.to_string(),
            key: facts.canonical,
            digest: text_digest(&text),
            text,
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

/// Read one dump file whole: gunzipped when it starts with gzip's magic bytes (whatever its
/// name), decoded as UTF-8 when valid, else ISO-8859-1. `progress` hears the bytes read
/// from disk. A corrupt or truncated gzip stream names the line it broke at.
pub fn read_dump(path: &Path, progress: &mut dyn FnMut(u64)) -> Result<String, ReadError> {
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
    let mut bytes = magic[..head].to_vec();
    let gzip = bytes == [0x1f, 0x8b];
    let result = if gzip {
        bytes.clear();
        let chained = std::io::Cursor::new(magic).chain(counted);
        let decoder = flate2::read::MultiGzDecoder::new(chained);
        decoder
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map(|_| ())
    } else {
        (&mut counted)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map(|_| ())
    };
    if let Err(e) = result {
        let line = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(fail(if gzip {
            format!("the gzip data is corrupt or cut short at line {line}: {e}")
        } else {
            format!("read error at line {line}: {e}")
        }));
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!(
            "larger than {} GiB decompressed",
            MAX_FILE_BYTES >> 30
        )));
    }
    Ok(match decode(&bytes) {
        std::borrow::Cow::Borrowed(_) => String::from_utf8(bytes).expect("checked by decode"),
        std::borrow::Cow::Owned(text) => text,
    })
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

/// The objects of one import of one source, gathered file by file.
#[derive(Debug)]
pub struct Importer {
    source: String,
    objects: Vec<NewObject>,
    by_key: HashMap<(&'static str, String), usize>,
    summary: Summary,
}

impl Importer {
    /// An import into `source` (any case; stored upper case).
    pub fn new(source: &str) -> Importer {
        Importer {
            source: source.to_ascii_uppercase(),
            objects: Vec::new(),
            by_key: HashMap::new(),
            summary: Summary::default(),
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

    /// Take every object of one file's text. Objects of another source (the `source:`
    /// attribute), of unknown classes or with keys that do not parse are skipped with the
    /// file and line; the import goes on (non-strict, as IRRd imports).
    pub fn add_text(&mut self, file: &str, text: &str) {
        for parsed in parse(text) {
            self.summary.read += 1;
            let object = match parsed {
                Ok(object) => object,
                Err(e) => {
                    self.skip(file, e.line, e.reason);
                    continue;
                }
            };
            let line = object.line;
            let taken = match take(&self.source, object) {
                Ok(taken) => taken,
                Err(reason) => {
                    self.skip(file, line, reason);
                    continue;
                }
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
            let (class, new) = (taken.class, taken.object);
            match self.by_key.get(&(class, new.key.clone())) {
                Some(&at) => {
                    self.summary.repeated += 1;
                    self.objects[at] = new;
                }
                None => {
                    self.by_key
                        .insert((class, new.key.clone()), self.objects.len());
                    self.objects.push(new);
                }
            }
        }
    }

    fn skip(&mut self, file: &str, line: usize, reason: String) {
        self.summary.skipped.push(Left {
            file: file.to_string(),
            line,
            reason,
        });
    }

    /// What this import changes against `current` (the source's stored objects, read at
    /// `generation`): every object is added, changed or unchanged, and every stored object
    /// the files no longer hold is deleted. `at` dates the versions it makes.
    pub fn plan(
        mut self,
        current: Vec<StoredDigest>,
        generation: i64,
        serial: Option<i64>,
        at: i64,
    ) -> (RegistryChanges, Summary) {
        let mut changes = RegistryChanges {
            source: self.source.clone(),
            serial,
            at,
            generation,
            ..Default::default()
        };
        let mut stored: HashMap<(String, String), i64> = current
            .into_iter()
            .map(|row| ((row.class, row.key), row.digest))
            .collect();
        for object in self.objects {
            // Moved out and back: no key copies for a million lookups.
            let slot = (object.class, object.key);
            let found = stored.remove(&slot);
            let object = NewObject {
                class: slot.0,
                key: slot.1,
                ..object
            };
            match found {
                None => changes.added.push(object),
                Some(digest) if digest == object.digest => self.summary.unchanged += 1,
                Some(_) => changes.changed.push(object),
            }
        }
        changes.deleted = stored.into_keys().collect();
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
        importer.add_text("dump", DUMP);
        importer
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
        assert!(changes.added[1].text.starts_with("inetnum: 192.0.2.0/24\n"));
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
                class: o.class.clone(),
                key: o.key.clone(),
                digest: text_digest(&o.text),
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
        );
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
        importer.add_text("a", "person: A\nnic-hdl: X1-TEST\nsource: TEST\n");
        importer.add_text("b", "person: B\nnic-hdl: x1-test\nsource: TEST\n");
        let (changes, summary) = importer.plan(vec![], 0, None, 1);
        assert_eq!((summary.added, summary.repeated), (1, 1));
        assert!(changes.added[0].text.starts_with("person: B"));
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
