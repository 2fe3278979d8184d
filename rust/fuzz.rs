//! Fuzzing of every decoder (automaton, trie, store, and the log and codec they share), as proptests
//! run by `cargo test`: structurally valid, checksummed blobs are written from random structures,
//! then mutated (boundary values in every length, id, capacity, order and flag field; bit flips;
//! cuts and growth), their checksum recomputed so the mutation reaches the decoder. Each must either
//! fail to load with a data error, or load into a structure whose every query, write and round trip
//! works. Hand-made blobs pin each reproducer of issue 10.
//!
//! A short budget runs in `cargo test` (256 cases per decoder); a long run:
//!
//! ```text
//! PROPTEST_CASES=200000 cargo test --release fuzz
//! ```

use proptest::prelude::*;

use crate::codec::{FORMAT_VERSION, MAGIC};
use crate::cursor::DraftPolicy;
use crate::error::Error;
use crate::log::MAX_SEQUENCE_IDS;
use crate::{NgramTrie, Scope, Store, SuffixAutomaton};

/// Memory a fuzzed blob may take on load: far above what these small blobs need honestly, far
/// below what would hurt.
const FUZZ_LOAD_LIMIT: usize = 64 << 20;

/// One integer field of a blob: where it is and how wide.
#[derive(Clone, Copy, Debug)]
struct Field {
    at: usize,
    width: usize,
}

/// Reads the layout of a valid blob of `kind` (1 automaton, 2 trie, 3 store): every field's place.
struct Layout<'a> {
    bytes: &'a [u8],
    pos: usize,
    fields: Vec<Field>,
}

impl Layout<'_> {
    fn field(&mut self, width: usize) -> u64 {
        let mut v = [0u8; 8];
        v[..width].copy_from_slice(&self.bytes[self.pos..self.pos + width]);
        self.fields.push(Field {
            at: self.pos,
            width,
        });
        self.pos += width;
        u64::from_le_bytes(v)
    }

    fn log(&mut self) {
        self.field(8); // next id
        self.field(1); // open flag
        let n = self.field(8);
        let mut total = 0;
        for _ in 0..n {
            self.field(8); // id
            total += self.field(8); // length
        }
        for _ in 0..total {
            self.field(4);
        }
    }

    fn automaton(&mut self) {
        self.field(1); // counts flag
        self.field(8); // token capacity
        self.field(8); // byte capacity
        self.log();
    }

    fn trie(&mut self) {
        self.field(4); // order
        self.field(8); // token capacity
        self.log();
    }

    fn of(bytes: &[u8], kind: u8) -> Vec<Field> {
        let mut l = Layout {
            bytes,
            pos: 8,
            fields: vec![Field { at: 4, width: 2 }, Field { at: 6, width: 1 }],
        };
        match kind {
            1 => l.automaton(),
            2 => l.trie(),
            _ => {
                for _ in 0..3 {
                    l.field(8);
                    l.field(8);
                    l.automaton();
                    l.trie();
                }
            }
        }
        assert_eq!(l.pos + 4, bytes.len(), "layout covers the blob");
        l.fields
    }
}

/// Recomputes the CRC-32 trailer (so the mutation is what the decoder sees).
fn reseal(bytes: &mut [u8]) {
    if bytes.len() < 4 {
        return;
    }
    let body = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
}

/// Values that sit on the edges of what some field accepts.
fn boundary_values(width: usize, blob_len: usize) -> Vec<u64> {
    let mut v = vec![0, 1, 2, 3, 4, 31, 32, 33, 255];
    if width >= 2 {
        v.extend([u64::from(FORMAT_VERSION), 65_535, 65_536]);
    }
    if width >= 4 {
        let n = blob_len as u64;
        v.extend([n / 16, n / 8, n / 4, n, 1 << 28, (1 << 28) + 1]);
        v.extend([u64::from(u32::MAX) - 1, u64::from(u32::MAX), 1 << 31]);
    }
    if width == 8 {
        v.extend([
            1 << 32,
            MAX_SEQUENCE_IDS - 1,
            MAX_SEQUENCE_IDS,
            MAX_SEQUENCE_IDS + 1,
            2 << 56,
            1 << 63,
            u64::MAX - 1,
            u64::MAX,
        ]);
    }
    v
}

/// A mutation of a blob.
#[derive(Clone, Debug)]
enum Mutation {
    /// Field `field % fields`, set to boundary value `value % values` (or `raw` when it is past them).
    SetField {
        field: usize,
        value: usize,
        raw: u64,
    },
    /// Flip bit `bit` of byte `at % len` (header and trailer included).
    FlipBit { at: usize, bit: u8 },
    /// Keep the first `keep % len` bytes, then reseal.
    Cut { keep: usize },
    /// Append `extra` bytes before the trailer.
    Grow { extra: Vec<u8> },
    /// Swap the values of two fields of the same width.
    Swap { a: usize, b: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<usize>(), any::<u64>())
            .prop_map(|(field, value, raw)| Mutation::SetField { field, value, raw }),
        2 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        1 => any::<usize>().prop_map(|keep| Mutation::Cut { keep }),
        1 => prop::collection::vec(any::<u8>(), 1..12).prop_map(|extra| Mutation::Grow { extra }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap { a, b }),
    ]
}

/// Applies `mutations` to a valid blob of `kind` and reseals it.
fn mutate(bytes: &[u8], kind: u8, mutations: &[Mutation]) -> Vec<u8> {
    let fields = Layout::of(bytes, kind);
    let mut out = bytes.to_vec();
    for m in mutations {
        if out.is_empty() {
            break;
        }
        match m {
            Mutation::SetField { field, value, raw } => {
                let f = fields[field % fields.len()];
                if f.at + f.width + 4 > out.len() {
                    continue;
                }
                let values = boundary_values(f.width, bytes.len());
                let v = values
                    .get(value % (values.len() + 1))
                    .copied()
                    .unwrap_or(*raw);
                out[f.at..f.at + f.width].copy_from_slice(&v.to_le_bytes()[..f.width]);
            }
            Mutation::FlipBit { at, bit } => {
                let at = at % out.len();
                out[at] ^= 1 << bit;
            }
            Mutation::Cut { keep } => out.truncate(keep % out.len().max(1)),
            Mutation::Grow { extra } => {
                let at = out.len().saturating_sub(4);
                out.splice(at..at, extra.iter().copied());
            }
            Mutation::Swap { a, b } => {
                let (fa, fb) = (fields[a % fields.len()], fields[b % fields.len()]);
                if fa.width != fb.width || fa.at.max(fb.at) + fa.width + 4 > out.len() {
                    continue;
                }
                let va = out[fa.at..fa.at + fa.width].to_vec();
                out.copy_within(fb.at..fb.at + fb.width, fa.at);
                out[fb.at..fb.at + fb.width].copy_from_slice(&va);
            }
        }
        reseal(&mut out);
    }
    out
}

/// A load either succeeds or fails with a data error (or the load limit): never anything else.
fn check_error(e: &Error) -> Result<(), TestCaseError> {
    match e {
        Error::Corrupt { .. } | Error::Truncated { .. } | Error::Version { .. } => Ok(()),
        Error::InvalidArgument { name: "data", .. } => Ok(()),
        other => Err(TestCaseError::fail(format!(
            "unexpected load error {other:?}"
        ))),
    }
}

/// Every query and write of a loaded automaton works, and it saves what it loaded.
fn exercise_automaton(sam: &SuffixAutomaton, bytes: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(&sam.to_bytes()[..], bytes);
    let tokens = sam.log().tokens().to_vec();
    let mut cur = sam.cursor();
    for &t in tokens.iter().take(40) {
        cur.advance(sam, t);
        for policy in [
            DraftPolicy::MostRecent,
            DraftPolicy::Earliest,
            DraftPolicy::MostFrequent,
        ] {
            let d = cur.draft_with(sam, 6, 1, policy);
            prop_assert_eq!(
                d.is_ok(),
                policy != DraftPolicy::MostFrequent || sam.has_counts()
            );
        }
        prop_assert!(cur.draft_tree(sam, 2, 3, 8, 1).is_ok());
    }
    let log = sam.log();
    for i in 0..log.sequences().len() {
        prop_assert!(log.sequence_tokens(i).windows(3).all(|w| sam.contains(w)));
    }
    let mut copy = sam.clone();
    for s in sam.log().sequences() {
        copy.remove_sequence(s.id).unwrap();
    }
    let mut copy = sam.clone();
    let spent = sam.log().next_id() == MAX_SEQUENCE_IDS;
    prop_assert_eq!(copy.begin_sequence().is_err(), spent);
    prop_assert_eq!(
        copy.extend(&[1, 2, 3]).is_err(),
        spent && !sam.log().is_open()
    );
    copy.set_capacity(Some(4), None).unwrap();
    prop_assert!(copy.num_tokens() <= 4);
    let back = SuffixAutomaton::from_bytes(&copy.to_bytes()).unwrap();
    prop_assert_eq!(back.to_bytes(), copy.to_bytes());
    Ok(())
}

fn exercise_trie(trie: &NgramTrie, bytes: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(&trie.to_bytes()[..], bytes);
    let log = trie.log();
    for i in 0..log.sequences().len() {
        for w in log.sequence_tokens(i).windows(2).take(20) {
            prop_assert!(trie.count(&w[..1], w[1]).unwrap() >= 1);
            prop_assert!(trie.top_continuations(w, 3, 4, 12).is_ok());
        }
    }
    let mut copy = trie.clone();
    for s in trie.log().sequences() {
        copy.remove_sequence(s.id).unwrap();
    }
    prop_assert_eq!(copy.count(&[], 0).unwrap(), 0);
    let mut copy = trie.clone();
    let spent = trie.log().next_id() == MAX_SEQUENCE_IDS;
    prop_assert_eq!(copy.begin_sequence().is_err(), spent);
    prop_assert_eq!(
        copy.extend(&[1, 2, 3]).is_err(),
        spent && !trie.log().is_open()
    );
    copy.set_capacity(Some(4)).unwrap();
    prop_assert!(copy.num_tokens() <= 4);
    let back = NgramTrie::from_bytes(&copy.to_bytes()).unwrap();
    prop_assert_eq!(back.to_bytes(), copy.to_bytes());
    Ok(())
}

fn exercise_store(store: &Store, bytes: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(&store.to_bytes()[..], bytes);
    let mut copy = store.clone();
    for scope in Scope::ALL {
        let ids = copy.sequence_ids(scope);
        for &id in &ids {
            prop_assert!(copy.sequence(id).is_ok());
        }
        if let Some(&id) = ids.first() {
            copy.remove_sequence(id).unwrap();
        }
        let log = copy.automaton(scope).log();
        let (spent, open) = (log.next_id() == MAX_SEQUENCE_IDS, log.is_open());
        match copy.begin_sequence(scope) {
            Ok(id) => prop_assert_eq!(id >> 56, scope as u64),
            Err(_) => prop_assert!(spent),
        }
        prop_assert_eq!(
            copy.extend(scope, &[1, 2, 3, 1, 2]).is_err(),
            spent && !open
        );
        copy.set_capacity(scope, Some(4), None).unwrap();
        prop_assert!(copy.num_tokens(scope) <= 4);
        prop_assert_eq!(
            copy.automaton(scope).log().sequences(),
            copy.trie(scope).log().sequences()
        );
    }
    let mut cur = copy.cursor();
    cur.extend(&copy, &[1, 2]);
    prop_assert!(cur.draft(&copy, 4, 1, DraftPolicy::Earliest).is_ok());
    prop_assert!(cur.draft_tree(&copy, 2, 3, 8).is_ok());
    prop_assert!(cur.frequency_tree(&copy, 2, 3, 8, 1).is_ok());
    let back = Store::from_bytes(&copy.to_bytes()).unwrap();
    prop_assert_eq!(back.to_bytes(), copy.to_bytes());
    Ok(())
}

/// Random sequences over a small alphabet, with some removed (gaps in the ids) and the last left
/// open or closed.
#[derive(Clone, Debug)]
struct History {
    seqs: Vec<Vec<u32>>,
    removed: Vec<bool>,
    close: bool,
}

fn history() -> impl Strategy<Value = History> {
    (
        prop::collection::vec(prop::collection::vec(0u32..6, 0..12), 0..5),
        prop::collection::vec(any::<bool>(), 5),
        any::<bool>(),
    )
        .prop_map(|(seqs, removed, close)| History {
            seqs,
            removed,
            close,
        })
}

fn automaton_of(h: &History, counts: bool) -> SuffixAutomaton {
    let mut sam = SuffixAutomaton::with_options(counts);
    for (s, &gone) in h.seqs.iter().zip(&h.removed) {
        let id = sam.begin_sequence().unwrap();
        sam.extend(s).unwrap();
        if gone {
            sam.remove_sequence(id).unwrap();
        }
    }
    if h.close {
        sam.close_sequence();
    }
    sam
}

fn trie_of(h: &History, order: u32) -> NgramTrie {
    let mut trie = NgramTrie::new(order).unwrap();
    for (s, &gone) in h.seqs.iter().zip(&h.removed) {
        let id = trie.begin_sequence().unwrap();
        trie.extend(s).unwrap();
        if gone {
            trie.remove_sequence(id).unwrap();
        }
    }
    if h.close {
        trie.close_sequence();
    }
    trie
}

fn store_of(hs: &[History; 3], order: u32, counts: bool, cap: Option<usize>) -> Store {
    let mut store = Store::new(order, counts).unwrap();
    for (h, scope) in hs.iter().zip(Scope::ALL) {
        for (s, &gone) in h.seqs.iter().zip(&h.removed) {
            let id = store.begin_sequence(scope).unwrap();
            store.extend(scope, s).unwrap();
            if gone {
                store.remove_sequence(id).unwrap();
            }
        }
        if h.close {
            store.close_sequence(scope);
        }
    }
    store.set_capacity(Scope::Global, cap, None).unwrap();
    store
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: ProptestConfig::default().cases.max(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn fuzz_automaton_decoder(
        h in history(),
        counts in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let bytes = automaton_of(&h, counts).to_bytes();
        let bad = mutate(&bytes, 1, &mutations);
        match SuffixAutomaton::from_bytes_with_limit(&bad, FUZZ_LOAD_LIMIT) {
            Ok(sam) => exercise_automaton(&sam, &bad)?,
            Err(e) => check_error(&e)?,
        }
    }

    #[test]
    fn fuzz_trie_decoder(
        h in history(),
        order in 1u32..5,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let bytes = trie_of(&h, order).to_bytes();
        let bad = mutate(&bytes, 2, &mutations);
        match NgramTrie::from_bytes_with_limit(&bad, FUZZ_LOAD_LIMIT) {
            Ok(trie) => exercise_trie(&trie, &bad)?,
            Err(e) => check_error(&e)?,
        }
    }

    #[test]
    fn fuzz_store_decoder(
        hs in [history(), history(), history()],
        order in 1u32..4,
        counts in any::<bool>(),
        cap in prop::option::of(8usize..40),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let bytes = store_of(&hs, order, counts, cap).to_bytes();
        let bad = mutate(&bytes, 3, &mutations);
        match Store::from_bytes_with_limit(&bad, FUZZ_LOAD_LIMIT) {
            Ok(store) => exercise_store(&store, &bad)?,
            Err(e) => check_error(&e)?,
        }
    }

    #[test]
    fn fuzz_honest_blobs_round_trip(
        hs in [history(), history(), history()],
        order in 1u32..4,
        counts in any::<bool>(),
    ) {
        let sam = automaton_of(&hs[0], counts);
        exercise_automaton(&SuffixAutomaton::from_bytes(&sam.to_bytes()).unwrap(), &sam.to_bytes())?;
        let trie = trie_of(&hs[1], order);
        exercise_trie(&NgramTrie::from_bytes(&trie.to_bytes()).unwrap(), &trie.to_bytes())?;
        let store = store_of(&hs, order, counts, None);
        exercise_store(&Store::from_bytes(&store.to_bytes()).unwrap(), &store.to_bytes())?;
    }
}

/// Hand-made blobs: the reproducers of issue 10.
mod reproducers {
    use super::*;

    /// Little-endian payload writer for hand-made blobs.
    #[derive(Default)]
    struct Blob(Vec<u8>);

    impl Blob {
        fn new(kind: u8) -> Self {
            let mut b = Blob(MAGIC.to_vec());
            b.0.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            b.0.extend_from_slice(&[kind, 0]);
            b
        }
        fn u8(mut self, v: u8) -> Self {
            self.0.push(v);
            self
        }
        fn u32(mut self, v: u32) -> Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn u64(mut self, v: u64) -> Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        /// A log: next id, open flag, (id, tokens) per sequence.
        fn log(mut self, next_id: u64, open: bool, seqs: &[(u64, &[u32])]) -> Self {
            self = self.u64(next_id).u8(open as u8).u64(seqs.len() as u64);
            for (id, s) in seqs {
                self = self.u64(*id).u64(s.len() as u64);
            }
            for (_, s) in seqs {
                for &t in *s {
                    self = self.u32(t);
                }
            }
            self
        }
        fn seal(self) -> Vec<u8> {
            let mut out = self.0;
            out.extend_from_slice(&[0; 4]);
            reseal(&mut out);
            out
        }
    }

    fn corrupt_reason<T: std::fmt::Debug>(r: crate::Result<T>) -> String {
        match r {
            Err(Error::Corrupt { reason }) => reason,
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn lengths_that_overflow_the_running_total_are_corrupt() {
        // Used to slice out of range ("range end index 10 out of range for slice of length 2"): 2
        // tokens, then 2**64 - 1 more, and the running total wrapped around to 1.
        let blob = Blob::new(1)
            .u8(0)
            .u64(0)
            .u64(0)
            .u64(2)
            .u8(0)
            .u64(2)
            .u64(0)
            .u64(2)
            .u64(1)
            .u64(u64::MAX)
            .u32(1)
            .seal();
        let reason = corrupt_reason(SuffixAutomaton::from_bytes(&blob));
        assert!(reason.contains("more than a structure holds"), "{reason}");
    }

    #[test]
    fn the_last_id_is_never_issued_twice() {
        // Loaded next_id = 2**64 - 1 used to make begin_sequence return the same id twice.
        let blob = Blob::new(1)
            .u8(0)
            .u64(0)
            .u64(0)
            .log(u64::MAX, false, &[(5, &[1, 2])])
            .seal();
        assert!(corrupt_reason(SuffixAutomaton::from_bytes(&blob)).contains("next sequence id"));
        // At the limit, begin fails instead of repeating an id.
        let blob = Blob::new(1)
            .u8(0)
            .u64(0)
            .u64(0)
            .log(MAX_SEQUENCE_IDS - 1, false, &[(5, &[1, 2])])
            .seal();
        let mut sam = SuffixAutomaton::from_bytes(&blob).unwrap();
        let a = sam.begin_sequence().unwrap();
        assert_eq!(a, MAX_SEQUENCE_IDS - 1);
        assert!(matches!(
            sam.begin_sequence(),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(sam.push(3), Ok(())));
        sam.remove_sequence(a).unwrap();
        assert_eq!(sam.log().sequences().len(), 1);
        assert_eq!(sam.log().sequences()[0].id, 5);
    }

    /// A store blob whose scopes are given as (capacity, automaton body, trie body).
    /// Writes one structure's part of a scope.
    type Part<'a> = &'a dyn Fn(Blob) -> Blob;

    fn store_blob(scopes: [(u64, Part, Part); 3]) -> Vec<u8> {
        let mut b = Blob::new(3);
        for (cap, automaton, trie) in scopes {
            b = b.u64(cap).u64(0);
            b = automaton(b);
            b = trie(b);
        }
        b.seal()
    }

    fn empty_automaton(b: Blob) -> Blob {
        b.u8(0).u64(0).u64(0).log(0, false, &[])
    }

    fn empty_trie(b: Blob) -> Blob {
        b.u32(2).u64(0).log(0, false, &[])
    }

    #[test]
    fn a_scope_whose_structures_disagree_is_corrupt() {
        // Same tokens under different ids: used to load, then panic in set_capacity ("scope
        // structures hold the same sequences") with the automaton evicted and the trie not.
        let automaton = |b: Blob| {
            b.u8(0)
                .u64(0)
                .u64(0)
                .log(3, false, &[(0, &[1, 2]), (2, &[3])])
        };
        let trie = |b: Blob| b.u32(2).u64(0).log(3, false, &[(1, &[1, 2]), (2, &[3])]);
        let blob = store_blob([
            (0, &automaton, &trie),
            (0, &empty_automaton, &empty_trie),
            (0, &empty_automaton, &empty_trie),
        ]);
        let reason = corrupt_reason(Store::from_bytes(&blob));
        assert!(reason.contains("request scope") && reason.contains("different sequences"));
        // Different tokens, different next ids, different open flags: each named.
        let trie = |b: Blob| b.u32(2).u64(0).log(3, false, &[(0, &[1, 9]), (2, &[3])]);
        let blob = store_blob([
            (0, &automaton, &trie),
            (0, &empty_automaton, &empty_trie),
            (0, &empty_automaton, &empty_trie),
        ]);
        assert!(corrupt_reason(Store::from_bytes(&blob)).contains("different tokens"));
        let trie = |b: Blob| b.u32(2).u64(0).log(4, false, &[(0, &[1, 2]), (2, &[3])]);
        let blob = store_blob([
            (0, &empty_automaton, &empty_trie),
            (0, &automaton, &trie),
            (0, &empty_automaton, &empty_trie),
        ]);
        assert!(corrupt_reason(Store::from_bytes(&blob)).contains("family scope"));
    }

    #[test]
    fn scope_local_ids_never_reach_the_scope_byte() {
        // A request-scope id >= 2**56 used to carry the family's scope byte, so removing it deleted
        // a family sequence.
        let big = 1u64 << 56;
        let automaton = |b: Blob| b.u8(0).u64(0).u64(0).log(big + 1, false, &[(big, &[1])]);
        let trie = |b: Blob| b.u32(2).u64(0).log(big + 1, false, &[(big, &[1])]);
        let blob = store_blob([
            (0, &automaton, &trie),
            (0, &empty_automaton, &empty_trie),
            (0, &empty_automaton, &empty_trie),
        ]);
        assert!(corrupt_reason(Store::from_bytes(&blob)).contains("id limit"));
    }

    #[test]
    fn inner_capacities_and_mismatched_settings_are_corrupt() {
        // An inner automaton capacity used to be enforced while the trie's was not.
        let automaton = |b: Blob| b.u8(0).u64(4).u64(0).log(1, false, &[(0, &[1, 2])]);
        let trie = |b: Blob| b.u32(2).u64(0).log(1, false, &[(0, &[1, 2])]);
        let blob = store_blob([
            (0, &automaton, &trie),
            (0, &empty_automaton, &empty_trie),
            (0, &empty_automaton, &empty_trie),
        ]);
        assert!(corrupt_reason(Store::from_bytes(&blob)).contains("capacity of its own"));
        let order3 = |b: Blob| b.u32(3).u64(0).log(0, false, &[]);
        let blob = store_blob([
            (0, &empty_automaton, &empty_trie),
            (0, &empty_automaton, &empty_trie),
            (0, &empty_automaton, &order3),
        ]);
        assert!(corrupt_reason(Store::from_bytes(&blob)).contains("max_order"));
        // More tokens than the scope's capacity.
        let automaton = |b: Blob| b.u8(0).u64(0).u64(0).log(1, false, &[(0, &[1, 2, 3])]);
        let trie = |b: Blob| b.u32(2).u64(0).log(1, false, &[(0, &[1, 2, 3])]);
        let blob = store_blob([
            (0, &empty_automaton, &empty_trie),
            (0, &empty_automaton, &empty_trie),
            (2, &automaton, &trie),
        ]);
        assert!(corrupt_reason(Store::from_bytes(&blob)).contains("token capacity"));
        // And a standalone trie of order 33.
        let blob = Blob::new(2).u32(33).u64(0).log(0, false, &[]).seal();
        assert!(corrupt_reason(NgramTrie::from_bytes(&blob)).contains("between 1 and 32"));
    }

    #[test]
    fn loads_that_expand_past_the_limit_stop() {
        // An honest order-32 trie takes up to 33 nodes a token: its load is accounted and refused
        // past the limit (16 MB of tokens used to take 2.7 GB in 8.3 s).
        let mut trie = NgramTrie::new(32).unwrap();
        trie.begin_sequence().unwrap();
        trie.extend(
            &(0..20_000u32)
                .map(|i| i.wrapping_mul(2_654_435_761) % 50_000)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let bytes = trie.to_bytes();
        let limit = 4 << 20;
        assert!(trie.memory_bytes() > limit);
        match NgramTrie::from_bytes_with_limit(&bytes, limit) {
            Err(Error::InvalidArgument {
                name: "data",
                reason,
            }) => {
                assert!(reason.contains(&limit.to_string()), "{reason}")
            }
            other => panic!("expected the load limit, got {other:?}"),
        }
        assert!(NgramTrie::from_bytes(&bytes).is_ok());
        let mut store = Store::new(32, false).unwrap();
        store.extend(Scope::Global, trie.log().tokens()).unwrap();
        assert!(Store::from_bytes_with_limit(&store.to_bytes(), limit).is_err());
    }
}
