//! Property tests: the decoder never panics on arbitrary or corrupted records, and a record it
//! accepts always yields exactly its schema's parameters.

use peregrine_event::raw::{Header, KIND_SYSCALL};
use peregrine_event::{Event, RawRecord};
use proptest::prelude::*;

/// A well-formed openat record with arbitrary parameter bytes.
fn record(nr: u16, params: &[Vec<u8>]) -> Vec<u8> {
    let header = Header {
        kind: KIND_SYSCALL,
        nr,
        ..Header::default()
    };
    header.encode(params)
}

fn exercise(buf: &[u8]) {
    if let Ok(ev) = Event::decode(buf, 0) {
        assert_eq!(ev.params().count(), ev.schema.params.len());
        let _ = ev.info().to_string();
    }
    if let Ok(r) = RawRecord::parse(buf) {
        assert_eq!(r.params().count(), r.nparams());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..256)) {
        exercise(&buf);
    }

    #[test]
    fn well_formed_records_with_random_params(
        nr in prop::sample::select(peregrine_event::schema::DEDICATED.to_vec()),
        params in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..32),
    ) {
        let rec = record(nr, &params);
        exercise(&rec);
        let n = peregrine_event::schema::schema_for(KIND_SYSCALL, nr).map(|s| s.params.len());
        prop_assert_eq!(Event::decode(&rec, 0).is_ok(), n == Some(params.len()));
    }

    #[test]
    fn corrupted_records_never_panic(
        nr in prop::sample::select(peregrine_event::schema::DEDICATED.to_vec()),
        params in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..32),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut rec = record(nr, &params);
        for (i, v) in flips {
            let at = i.index(rec.len());
            rec[at] = v;
        }
        exercise(&rec);
        let end = cut.index(rec.len() + 1);
        exercise(&rec[..end]);
    }
}
