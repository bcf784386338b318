//! A reader of MMDB data-section values in place: no structs, no allocation, every offset
//! and length checked.
//!
//! The decoded records (`record.rs`) serve every dialect's own shapes. A dialect whose wire
//! shape is the record itself (MaxMind's) renders straight from these values instead, and
//! can keep renderings of values the database shares between records (a country, its names)
//! by the offset the value lives at (`Value::at`).
//!
//! Damaged or hostile files give an `Error`, never a panic or an endless walk: nesting is
//! bounded, and a pointer must land on a value that is not itself a pointer.

use std::fmt;

/// Containers nested deeper than this are refused (GeoIP2 records nest four deep).
const MAX_DEPTH: u8 = 32;

/// What is wrong with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error(pub &'static str);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Error {}

/// One database's data section: the bytes pointers count from.
#[derive(Clone, Copy)]
pub struct DataSection<'a> {
    bytes: &'a [u8],
}

impl fmt::Debug for DataSection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataSection({} bytes)", self.bytes.len())
    }
}

/// A value and where it lives. `at` is the offset of the value itself (past any pointer to
/// it): two records that point at one shared value see the same `at`.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub at: usize,
    /// Reached through a pointer: the database stores it once for every record that uses it.
    pub shared: bool,
    pub value: Value<'a>,
}

#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Map(Map<'a>),
    Array(Array<'a>),
    Str(&'a str),
    Bytes(&'a [u8]),
    Double(f64),
    Float(f32),
    Uint(u64),
    Uint128(u128),
    Int(i32),
    Bool(bool),
}

/// A map's entries, read one at a time.
#[derive(Debug, Clone, Copy)]
pub struct Map<'a> {
    section: DataSection<'a>,
    next: usize,
    left: usize,
    depth: u8,
}

/// An array's items, read one at a time.
#[derive(Debug, Clone, Copy)]
pub struct Array<'a> {
    section: DataSection<'a>,
    next: usize,
    left: usize,
    depth: u8,
}

impl<'a> DataSection<'a> {
    pub fn new(bytes: &'a [u8]) -> DataSection<'a> {
        DataSection { bytes }
    }

    /// The value at `offset` (a record's offset from the search tree).
    pub fn node(self, offset: usize) -> Result<Node<'a>, Error> {
        self.read(offset, 0).map(|(node, _)| node)
    }

    fn byte(self, at: usize) -> Result<u8, Error> {
        self.bytes
            .get(at)
            .copied()
            .ok_or(Error("value past the end of the data section"))
    }

    fn slice(self, at: usize, len: usize) -> Result<&'a [u8], Error> {
        at.checked_add(len)
            .and_then(|end| self.bytes.get(at..end))
            .ok_or(Error("value past the end of the data section"))
    }

    /// Big-endian unsigned of `len` bytes (at most 16).
    fn uint(self, at: usize, len: usize) -> Result<u128, Error> {
        Ok(self
            .slice(at, len)?
            .iter()
            .fold(0u128, |n, &b| (n << 8) | b as u128))
    }

    /// The value at `at` and the offset just past it (past the pointer, for a pointer).
    fn read(self, at: usize, depth: u8) -> Result<(Node<'a>, usize), Error> {
        let (kind, size, body) = self.header(at)?;
        if kind == 1 {
            let (target, end) = self.pointer(size, body)?;
            let (kind, size, body) = self.header(target)?;
            if kind == 1 {
                return Err(Error("a pointer points at a pointer"));
            }
            let value = self.value(kind, size, body, depth)?;
            return Ok((
                Node {
                    at: target,
                    shared: true,
                    value,
                },
                end,
            ));
        }
        let value = self.value(kind, size, body, depth)?;
        let end = match value {
            // A container's end is known only by reading through it.
            Value::Map(map) => map.end()?,
            Value::Array(array) => array.end()?,
            _ => body + payload_len(kind, size),
        };
        Ok((
            Node {
                at,
                shared: false,
                value,
            },
            end,
        ))
    }

    /// (type, size, offset of the payload) of the value whose control byte is at `at`. For a
    /// pointer, "size" is the control byte's low five bits.
    fn header(self, at: usize) -> Result<(u8, usize, usize), Error> {
        let control = self.byte(at)?;
        let mut kind = control >> 5;
        let mut next = at + 1;
        if kind == 0 {
            kind = match self.byte(next)? {
                extended @ 1..=8 => 7 + extended,
                _ => return Err(Error("unknown extended type")),
            };
            next += 1;
        }
        if kind == 1 {
            return Ok((1, (control & 0x1f) as usize, next));
        }
        let size = match control & 0x1f {
            n @ 0..=28 => n as usize,
            29 => {
                next += 1;
                29 + self.uint(next - 1, 1)? as usize
            }
            30 => {
                next += 2;
                285 + self.uint(next - 2, 2)? as usize
            }
            _ => {
                next += 3;
                65_821 + self.uint(next - 3, 3)? as usize
            }
        };
        Ok((kind, size, next))
    }

    /// A pointer's target and the offset past the pointer.
    fn pointer(self, low: usize, body: usize) -> Result<(usize, usize), Error> {
        let len = ((low >> 3) & 3) + 1;
        let rest = self.uint(body, len)? as usize;
        let high = low & 7;
        let target = match len {
            1 => (high << 8) | rest,
            2 => ((high << 16) | rest) + 2048,
            3 => ((high << 24) | rest) + 526_336,
            _ => rest,
        };
        Ok((target, body + len))
    }

    fn value(self, kind: u8, size: usize, body: usize, depth: u8) -> Result<Value<'a>, Error> {
        let container = |depth: u8| {
            if depth >= MAX_DEPTH {
                Err(Error("values nested too deep"))
            } else {
                Ok(depth + 1)
            }
        };
        Ok(match kind {
            2 => Value::Str(
                std::str::from_utf8(self.slice(body, size)?)
                    .map_err(|_| Error("a string is not UTF-8"))?,
            ),
            3 => {
                if size != 8 {
                    return Err(Error("a double is not 8 bytes"));
                }
                Value::Double(f64::from_bits(self.uint(body, 8)? as u64))
            }
            4 => Value::Bytes(self.slice(body, size)?),
            5 | 6 | 9 => {
                let max = match kind {
                    5 => 2,
                    6 => 4,
                    _ => 8,
                };
                if size > max {
                    return Err(Error("an unsigned integer is too long"));
                }
                Value::Uint(self.uint(body, size)? as u64)
            }
            7 => Value::Map(Map {
                section: self,
                next: body,
                left: size,
                depth: container(depth)?,
            }),
            8 => {
                if size > 4 {
                    return Err(Error("an int32 is too long"));
                }
                // Shorter forms are zero-padded on the left (positive).
                Value::Int(self.uint(body, size)? as u32 as i32)
            }
            10 => {
                if size > 16 {
                    return Err(Error("a uint128 is too long"));
                }
                Value::Uint128(self.uint(body, size)?)
            }
            11 => Value::Array(Array {
                section: self,
                next: body,
                left: size,
                depth: container(depth)?,
            }),
            14 => {
                if size > 1 {
                    return Err(Error("a boolean is not 0 or 1"));
                }
                Value::Bool(size == 1)
            }
            15 => {
                if size != 4 {
                    return Err(Error("a float is not 4 bytes"));
                }
                Value::Float(f32::from_bits(self.uint(body, 4)? as u32))
            }
            _ => return Err(Error("a type that does not belong in a record")),
        })
    }
}

/// Payload bytes of a scalar.
fn payload_len(kind: u8, size: usize) -> usize {
    match kind {
        14 => 0,
        _ => size,
    }
}

impl<'a> Map<'a> {
    pub fn len(&self) -> usize {
        self.left
    }

    pub fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// The next (key, value); `None` after the last.
    pub fn next_entry(&mut self) -> Result<Option<(&'a str, Node<'a>)>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        let (key, after_key) = self.section.read(self.next, self.depth)?;
        let Value::Str(key) = key.value else {
            return Err(Error("a map key is not a string"));
        };
        let (value, after_value) = self.section.read(after_key, self.depth)?;
        self.next = after_value;
        self.left -= 1;
        Ok(Some((key, value)))
    }

    /// The offset just past the map.
    fn end(mut self) -> Result<usize, Error> {
        while self.next_entry()?.is_some() {}
        Ok(self.next)
    }
}

impl<'a> Array<'a> {
    pub fn len(&self) -> usize {
        self.left
    }

    pub fn is_empty(&self) -> bool {
        self.left == 0
    }

    pub fn next_item(&mut self) -> Result<Option<Node<'a>>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        let (item, after) = self.section.read(self.next, self.depth)?;
        self.next = after;
        self.left -= 1;
        Ok(Some(item))
    }

    fn end(mut self) -> Result<usize, Error> {
        while self.next_item()?.is_some() {}
        Ok(self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map {"a": ptr->"xy", "b": 300u16, "c": [true, -1i32], "d": 1.5} then "xy" at the end.
    fn sample() -> Vec<u8> {
        let mut b = vec![0xe4]; // map, 4 entries
        b.extend([0x41, b'a', 0x20, 0x00]); // "a" -> pointer to offset 0 + patch below
        b.extend([0x41, b'b', 0xa2, 0x01, 0x2c]); // "b" -> uint16 300
        b.extend([
            0x41, b'c', 0x02, 0x04, 0x01, 0x07, 0x04, 0x01, 0xff, 0xff, 0xff, 0xff,
        ]); // "c" -> array(2): true, int32 -1
        b.extend([0x41, b'd', 0x68]);
        b.extend(1.5f64.to_bits().to_be_bytes());
        let xy = b.len();
        b.extend([0x42, b'x', b'y']);
        b[4] = xy as u8;
        b
    }

    #[test]
    fn reads_maps_pointers_arrays_and_scalars() {
        let bytes = sample();
        let section = DataSection::new(&bytes);
        let root = section.node(0).unwrap();
        let Value::Map(mut map) = root.value else {
            panic!("not a map")
        };
        assert_eq!(map.len(), 4);
        let (k, a) = map.next_entry().unwrap().unwrap();
        assert_eq!(k, "a");
        assert!(a.shared);
        assert!(matches!(a.value, Value::Str("xy")));
        assert_eq!(a.at, bytes.len() - 3);
        let (_, b) = map.next_entry().unwrap().unwrap();
        assert!(matches!(b.value, Value::Uint(300)) && !b.shared);
        let (_, c) = map.next_entry().unwrap().unwrap();
        let Value::Array(mut items) = c.value else {
            panic!("not an array")
        };
        assert!(matches!(
            items.next_item().unwrap().unwrap().value,
            Value::Bool(true)
        ));
        assert!(matches!(
            items.next_item().unwrap().unwrap().value,
            Value::Int(-1)
        ));
        assert!(items.next_item().unwrap().is_none());
        let (_, d) = map.next_entry().unwrap().unwrap();
        assert!(matches!(d.value, Value::Double(x) if x == 1.5));
        assert!(map.next_entry().unwrap().is_none());
    }

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let bytes = sample();
        // Every truncation of the sample is an error or a shorter valid read, never a panic.
        for len in 0..bytes.len() {
            let section = DataSection::new(&bytes[..len]);
            if let Ok(Node {
                value: Value::Map(mut map),
                ..
            }) = section.node(0)
            {
                while let Ok(Some(_)) = map.next_entry() {}
            }
        }
        // A pointer to itself: a pointer at a pointer.
        let selfie = [0x20, 0x00];
        assert!(DataSection::new(&selfie).node(0).is_err());
        // A map whose value points back at the map: bounded by the nesting limit.
        let cycle = [0xe1, 0x41, b'k', 0x20, 0x00];
        let mut node = DataSection::new(&cycle).node(0).unwrap();
        let mut steps = 0;
        let err = loop {
            let Value::Map(mut map) = node.value else {
                panic!("not a map")
            };
            match map.next_entry() {
                Ok(Some((_, inner))) => node = inner,
                Ok(None) => panic!("ended"),
                Err(e) => break e,
            }
            steps += 1;
            assert!(steps < 100, "the cycle did not end");
        };
        assert_eq!(err, Error("values nested too deep"));
        // Invalid UTF-8, an overlong uint16, an unknown extended type.
        assert!(DataSection::new(&[0x41, 0xff]).node(0).is_err());
        assert!(DataSection::new(&[0xa3, 1, 2, 3]).node(0).is_err());
        assert!(DataSection::new(&[0x00, 0x20]).node(0).is_err());
    }
}
