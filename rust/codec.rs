//! The binary save format: a header, a little-endian payload, a CRC-32 trailer.
//!
//! ```text
//! magic "SPSC" | version: u16 | kind: u8 | reserved: u8 | payload ... | crc32(everything before): u32
//! ```
//! Readers check the magic, the version, the kind, the checksum and every length before they allocate,
//! so truncated or corrupted bytes give an [`Error`], never a panic or a huge allocation.

use crate::error::{Error, Result};

/// First bytes of every saved structure.
pub const MAGIC: &[u8; 4] = b"SPSC";
/// Version of the format this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 8;
const TRAILER_LEN: usize = 4;

/// Which structure a byte string holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A [`crate::SuffixAutomaton`].
    Automaton = 1,
    /// A [`crate::NgramTrie`].
    Trie = 2,
    /// A [`crate::Store`].
    Store = 3,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Automaton => "SuffixAutomaton",
            Kind::Trie => "NgramTrie",
            Kind::Store => "Store",
        }
    }
}

/// Appends the payload of one structure.
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Starts a byte string holding a structure of `kind`.
    pub fn new(kind: Kind) -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        buf.push(kind as u8);
        buf.push(0);
        Writer { buf }
    }
    /// Appends a byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Appends a little-endian `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a little-endian `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends `u32`s (the count is written by the caller where it is not implied).
    pub fn u32_slice(&mut self, v: &[u32]) {
        self.buf.reserve(v.len() * 4);
        for &x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }
    /// Seals the byte string with its checksum.
    pub fn finish(mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

/// Reads the payload of one structure, checking bounds at every step.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    total: usize,
}

impl<'a> Reader<'a> {
    /// Checks header and checksum of `bytes` for a structure of `kind` and returns a reader of its payload.
    pub fn open(bytes: &'a [u8], kind: Kind) -> Result<Self> {
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(Error::Truncated {
                needed: HEADER_LEN + TRAILER_LEN,
                got: bytes.len(),
            });
        }
        if &bytes[..4] != MAGIC {
            return Err(Error::Corrupt {
                reason: "not a specscale structure (bad magic bytes)".into(),
            });
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != FORMAT_VERSION {
            return Err(Error::Version {
                expected: FORMAT_VERSION,
                got: version,
            });
        }
        if bytes[6] != kind as u8 {
            return Err(Error::Corrupt {
                reason: format!(
                    "holds structure kind {}, expected a {} ({})",
                    bytes[6],
                    kind.name(),
                    kind as u8
                ),
            });
        }
        if bytes[7] != 0 {
            return Err(Error::Corrupt {
                reason: format!("reserved header byte is {}, expected 0", bytes[7]),
            });
        }
        let (body, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
        let stored = u32::from_le_bytes(trailer.try_into().expect("4-byte trailer"));
        if crc32fast::hash(body) != stored {
            return Err(Error::Corrupt {
                reason: "checksum mismatch (the bytes were truncated or altered)".into(),
            });
        }
        Ok(Reader {
            buf: body,
            pos: HEADER_LEN,
            total: bytes.len(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() - self.pos < n {
            return Err(Error::Truncated {
                needed: n.saturating_add(self.pos + TRAILER_LEN),
                got: self.total,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// Reads a byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    /// Reads a little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    /// Reads a little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    /// Reads a count of items of at least `min_item_bytes` each, rejecting counts the rest of the
    /// payload cannot hold (so a corrupt count never triggers a huge allocation).
    pub fn len_prefix(&mut self, min_item_bytes: usize) -> Result<usize> {
        let n = self.u64()?;
        let room = (self.buf.len() - self.pos) / min_item_bytes.max(1);
        if n > room as u64 {
            return Err(Error::Truncated {
                needed: usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(min_item_bytes)
                    .saturating_add(self.pos + TRAILER_LEN),
                got: self.total,
            });
        }
        Ok(n as usize)
    }
    /// Reads `n` little-endian `u32`s.
    pub fn u32_vec(&mut self, n: usize) -> Result<Vec<u32>> {
        let bytes = self.take(n.checked_mul(4).ok_or(Error::Truncated {
            needed: usize::MAX,
            got: self.total,
        })?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }
    /// Fails unless the whole payload was read.
    pub fn finish(self) -> Result<()> {
        if self.pos != self.buf.len() {
            return Err(Error::Corrupt {
                reason: format!(
                    "{} unexpected bytes after the payload",
                    self.buf.len() - self.pos
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_truncation_is_an_error() {
        let mut w = Writer::new(Kind::Trie);
        w.u8(7);
        w.u64(3);
        w.u32_slice(&[1, 2, 3]);
        let bytes = w.finish();
        let mut r = Reader::open(&bytes, Kind::Trie).unwrap();
        assert_eq!(r.u8().unwrap(), 7);
        let n = r.len_prefix(4).unwrap();
        assert_eq!(r.u32_vec(n).unwrap(), vec![1, 2, 3]);
        r.finish().unwrap();
        for cut in 0..bytes.len() {
            assert!(
                Reader::open(&bytes[..cut], Kind::Trie).is_err(),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            Reader::open(&bytes, Kind::Automaton),
            Err(Error::Corrupt { .. })
        ));
        let mut flipped = bytes.clone();
        flipped[10] ^= 1;
        assert!(Reader::open(&flipped, Kind::Trie).is_err());
        let mut other_version = bytes.clone();
        other_version[4] = 9;
        assert!(matches!(
            Reader::open(&other_version, Kind::Trie),
            Err(Error::Version { got: 9, .. })
        ));
    }
}
