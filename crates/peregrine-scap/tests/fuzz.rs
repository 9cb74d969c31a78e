//! Property tests: truncations and bit flips of real captures never panic the reader, the
//! renderer or the checker; errors point inside the input; truncation keeps a prefix of the
//! events.

use std::io::Read;
use std::sync::OnceLock;

use proptest::prelude::*;

use peregrine_testkit::upstream::dir as upstream;

/// Decompressed captures: a v1 file (enter/exit pairs, IL/UL v1, PL_V6), a v2 container
/// file, and an uncompressed PL_V9 file with user lists.
fn corpus() -> &'static [Vec<u8>] {
    static C: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    C.get_or_init(|| {
        [
            "falco/cat_write.scap",
            "falco/psp_write_tmp_test.scap",
            "libs/sample.scap",
        ]
        .iter()
        .map(|f| {
            let raw = std::fs::read(upstream().join("captures").join(f)).expect("capture");
            if raw.starts_with(&[0x1f, 0x8b]) {
                let mut out = Vec::new();
                flate2::read::MultiGzDecoder::new(&raw[..])
                    .read_to_end(&mut out)
                    .expect("gunzip");
                out
            } else {
                raw
            }
        })
        .collect()
    })
}

/// Reads everything, rendering every event, and checks; returns (events, error offset).
fn exercise(b: &[u8]) -> (Vec<peregrine_scap::OwnedEvent>, Option<u64>) {
    let c = peregrine_scap::read_all(b);
    let mut rd = peregrine_scap::Reader::new(b).ok();
    if let Some(rd) = rd.as_mut() {
        while let Ok(Some(e)) = rd.next_event() {
            let _ = e.render_params();
        }
    }
    let _ = peregrine_scap::check(b);
    (c.events, c.error.map(|e| e.offset))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn truncation_keeps_a_prefix(which in 0usize..3, cut in any::<prop::sample::Index>()) {
        if peregrine_testkit::upstream::require("truncation_keeps_a_prefix").is_none() {
            return Ok(());
        }
        let full = &corpus()[which];
        let n = cut.index(full.len());
        let (all, _) = exercise(full);
        let (evs, err) = exercise(&full[..n]);
        prop_assert!(evs.len() <= all.len());
        prop_assert_eq!(&all[..evs.len()], &evs[..]);
        if let Some(off) = err {
            prop_assert!(off <= n as u64, "offset {} beyond input {}", off, n);
        }
    }

    #[test]
    fn bit_flips_never_panic(
        which in 0usize..3,
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..8),
    ) {
        if peregrine_testkit::upstream::require("bit_flips_never_panic").is_none() {
            return Ok(());
        }
        let mut b = corpus()[which].clone();
        for (i, bit) in &flips {
            let i = i.index(b.len());
            b[i] ^= 1 << bit;
        }
        let (_, err) = exercise(&b);
        if let Some(off) = err {
            prop_assert!(off <= b.len() as u64);
        }
    }
}
