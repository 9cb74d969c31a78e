//! `dump`: one line per event, for `peregrine replay` debugging and golden tests.
//!
//! Line format: `num ts cpu comm tid dir type params` — `ts` in ns since the epoch, `tid` signed (meta events use -1), `comm`
//! from the process list, updated by execve/clone exits (`<NA>` when unknown).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use crate::error::{ErrorKind, ScapError};
use crate::Reader;

/// What a dump wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DumpStats {
    pub events: u64,
}

/// Dumps the capture at `path` to `out`.
pub fn dump(path: impl AsRef<Path>, out: &mut impl Write) -> Result<DumpStats, ScapError> {
    let rd = Reader::open(path).map_err(|e| e.error)?;
    dump_reader(rd, out)
}

/// Dumps an opened capture to `out`.
pub fn dump_reader<R: Read>(
    mut rd: Reader<R>,
    out: &mut impl Write,
) -> Result<DumpStats, ScapError> {
    let mut comm: HashMap<u64, String> = rd
        .metadata()
        .threads
        .iter()
        .map(|t| (t.tid, t.comm.clone()))
        .collect();
    let mut stats = DumpStats::default();
    while let Some(e) = rd.next_event()? {
        stats.events += 1;
        if e.dir() == '<'
            && matches!(
                e.name(),
                "execve" | "execveat" | "clone" | "fork" | "vfork" | "clone3"
            )
        {
            let ok = e
                .params
                .get(0)
                .is_some_and(|r| r.last().is_none_or(|b| b & 0x80 == 0));
            if let (true, Some(c)) = (ok, e.param("comm")) {
                let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
                comm.insert(e.tid, String::from_utf8_lossy(&c[..end]).into_owned());
            }
        }
        let name = comm.get(&e.tid).map_or("<NA>", String::as_str);
        writeln!(
            out,
            "{} {} {} {} {} {} {} {}",
            stats.events,
            e.ts,
            e.cpu,
            name,
            e.tid as i64,
            e.dir(),
            e.name(),
            e.render_params()
        )
        .map_err(|io| ScapError::new(e.offset, ErrorKind::Io(io)))?;
    }
    Ok(stats)
}
