//! The bodies of the fuzz targets, one module each; `fuzz_targets/*.rs` are one-line
//! wrappers. Every check panics on violation, which libFuzzer reports as a crash.

pub mod decode;
pub mod governor;
pub mod json;
pub mod ledger;
pub mod ledger_file;

/// Splits `data` into frames `u16 LE length | bytes`; a short last frame takes what is left.
pub fn frames(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 && out.len() < 256 {
        let len = usize::from(u16::from_le_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let take = len.min(rest.len());
        out.push(&rest[..take]);
        data = &rest[take..];
    }
    out
}

/// Frames `records` the way [`frames`] reads them.
pub fn frame(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(&(r.len() as u16).to_le_bytes());
        out.extend_from_slice(r);
    }
    out
}
