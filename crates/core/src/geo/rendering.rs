//! Renderings made of a record's own bytes and references to renderings many records share.
//!
//! A City record's rendering is mostly its continent, countries and city (their names in
//! eight languages), which the database stores once for every record that has them. Kept
//! as references, a cached record costs its own bytes (location, postal) and a pointer per
//! shared part, so the cache holds about half again as many records; a hit copies the
//! parts in order. Parts there can be many of (cities) are still counted in full by each
//! record, so the budget bounds them; the memory they share is what the budget overcounts.

use std::sync::Arc;

/// What a renderer writes into: bytes, and references to shared renderings between them.
#[derive(Default)]
pub struct Sink {
    own: Vec<u8>,
    /// Each shared part, how many own bytes come before it, and whether the record counts it.
    shared: Vec<(usize, Arc<[u8]>, bool)>,
    shared_len: usize,
    /// Bytes of the shared parts the record counts as its own (`refer_counted`).
    counted: usize,
}

impl Sink {
    /// Bytes written, own and shared.
    pub fn len(&self) -> usize {
        self.own.len() + self.shared_len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, byte: u8) {
        self.own.push(byte);
    }

    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.own.extend_from_slice(bytes);
    }

    /// Append a shared rendering by reference, counted where it is cached.
    pub(crate) fn refer(&mut self, part: Arc<[u8]>) {
        self.shared_len += part.len();
        self.shared.push((self.own.len(), part, false));
    }

    /// Append a shared rendering by reference, counted in full by the record that keeps
    /// it: for parts too many to be bounded by the database (cities), so the cache's budget
    /// still bounds them; shared in memory, the budget holds more than it counts.
    pub(crate) fn refer_counted(&mut self, part: Arc<[u8]>) {
        self.counted += part.len();
        self.shared_len += part.len();
        self.shared.push((self.own.len(), part, true));
    }

    /// Take back everything written after the first `len` bytes (`len` is a length this
    /// sink had: a shared part is never split).
    pub fn truncate(&mut self, len: usize) {
        while let Some((before, part, counted)) = self.shared.last() {
            let starts_at = before + self.shared_len - part.len();
            if starts_at < len {
                debug_assert!(starts_at + part.len() <= len, "a shared part split");
                break;
            }
            self.shared_len -= part.len();
            if *counted {
                self.counted -= part.len();
            }
            self.shared.pop();
        }
        self.own.truncate(len - self.shared_len);
    }

    pub(crate) fn clear(&mut self) {
        self.own.clear();
        self.shared.clear();
        self.shared_len = 0;
        self.counted = 0;
    }

    /// Everything written, as one flat copy.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        let mut from = 0;
        for (before, part, _) in &self.shared {
            out.extend_from_slice(&self.own[from..*before]);
            out.extend_from_slice(part);
            from = *before;
        }
        out.extend_from_slice(&self.own[from..]);
        out
    }

    /// What was written, at its exact size.
    pub(crate) fn finish(&self) -> Rendering {
        Rendering {
            own: self.own.as_slice().into(),
            shared: self
                .shared
                .iter()
                .map(|(before, part, _)| (*before, part.clone()))
                .collect(),
            len: self.len(),
            counted: self.counted,
        }
    }

    /// The heap this sink holds (it is reused per thread).
    pub(crate) fn capacity(&self) -> usize {
        self.own.capacity() + self.shared.capacity() * 24
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.own.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A finished rendering, as a record keeps it.
#[derive(Debug, Default)]
pub struct Rendering {
    own: Box<[u8]>,
    shared: Box<[(usize, Arc<[u8]>)]>,
    len: usize,
    counted: usize,
}

impl Rendering {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append the rendering to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        write_parts(&self.own, &self.shared, out);
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        self.write_to(&mut out);
        out
    }

    /// Heap bytes requested for the record's part: its bytes, its references, and the
    /// shared parts it counts as its own (the others are counted where they are cached).
    pub(crate) fn heap_parts(&self) -> [usize; 3] {
        [
            self.own.len(),
            self.shared.len() * std::mem::size_of::<(usize, Arc<[u8]>)>(),
            self.counted,
        ]
    }
}

fn write_parts(own: &[u8], shared: &[(usize, Arc<[u8]>)], out: &mut Vec<u8>) {
    let mut from = 0;
    for (before, part) in shared {
        out.extend_from_slice(&own[from..*before]);
        out.extend_from_slice(part);
        from = *before;
    }
    out.extend_from_slice(&own[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_keep_their_places_through_truncation() {
        let mut sink = Sink::default();
        sink.extend_from_slice(b"{\"a\":");
        sink.refer(Arc::from(&b"[1]"[..]));
        let mark = sink.len();
        sink.extend_from_slice(b",\"b\":");
        sink.refer(Arc::from(&b""[..]));
        sink.refer_counted(Arc::from(&b"[2]"[..]));
        assert_eq!(sink.counted, 3);
        assert_eq!(sink.to_vec(), b"{\"a\":[1],\"b\":[2]");
        sink.truncate(mark);
        assert_eq!(sink.len(), mark);
        assert_eq!(sink.counted, 0);
        assert_eq!(sink.to_vec(), b"{\"a\":[1]");
        sink.push(b'}');
        let done = sink.finish();
        assert_eq!(done.len(), 9);
        assert_eq!(done.to_vec(), b"{\"a\":[1]}");
        sink.truncate(0);
        assert!(sink.is_empty() && sink.to_vec().is_empty());
    }
}
