//! Arbitrary bytes as a ledger *file* (format 2: header, checksummed frames, commit frames).
//!
//! Two modes, chosen by the first byte:
//! - raw: the bytes are the file. The reader never panics; what it accepts is consistent
//!   (records handed out = records reported, a torn tail starts at the committed length), and
//!   truncating to the committed length — what `run` does — leaves a file that reads back
//!   clean with the same records.
//! - flip: the rest builds a valid file (bodies, commit groups), then one bit chosen by the
//!   input is flipped inside the committed bytes. The reader must refuse it (the single-fault
//!   promise): never accept it, never call it a torn tail.
use autonomic_tokio::ledger_file::{
    COMMIT_FRAME_BYTES, Commit, FILE_HEADER_BYTES, MIN_RECORD_BYTES, encode_header, encode_record,
    record_hash, scan_bytes,
};

/// Runs one input.
pub fn run(data: &[u8]) {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 1 => flip(rest),
        Some((_, rest)) => raw(rest),
        None => raw(data),
    }
}

fn raw(file: &[u8]) {
    let mut seen = 0_u64;
    let Ok(report) = scan_bytes(file, |index, _| {
        assert_eq!(index, seen, "records in order");
        seen += 1;
        Ok(())
    }) else {
        return;
    };
    assert_eq!(
        report.records, seen,
        "every committed record was handed out"
    );
    let len = file.len() as u64;
    assert!(report.valid_len_bytes <= len);
    match report.torn_tail {
        None => assert_eq!(
            report.valid_len_bytes, len,
            "no tail: the whole file is valid"
        ),
        Some(tail) => {
            assert_eq!(tail.offset_bytes, report.valid_len_bytes);
            assert_eq!(tail.offset_bytes + tail.len_bytes, len);
        }
    }
    if report.ledger_id.is_some() {
        let truncated = &file[..report.valid_len_bytes as usize];
        let again = scan_bytes(truncated, |_, _| Ok(())).expect("the truncated file is clean");
        assert_eq!(again.records, report.records);
        assert_eq!(again.torn_tail, None);
        assert_eq!(again.head_hash, report.head_hash);
    }
}

fn flip(data: &[u8]) {
    let [a, b, c, d, group, rest @ ..] = data else {
        return;
    };
    let group = usize::from(*group % 8) + 1;
    let mut file = encode_header(&[7; 16]).to_vec();
    let mut records = 0_u64;
    let bodies = crate::frames(rest);
    for chunk in bodies.chunks(group) {
        let mut last = None;
        for body in chunk {
            let mut b = body.to_vec();
            b.resize(b.len().clamp(MIN_RECORD_BYTES as usize, 300), 0xA5);
            encode_record(&b, &mut file).expect("a valid body");
            last = Some(record_hash(&b));
            records += 1;
        }
        let Some(head_hash) = last else { continue };
        let end_bytes = file.len() as u64 + u64::from(COMMIT_FRAME_BYTES);
        Commit {
            records,
            head_hash,
            end_bytes,
        }
        .encode(&mut file);
    }
    let clean = scan_bytes(&file, |_, _| Ok(())).expect("a written file reads back");
    assert_eq!((clean.records, clean.torn_tail), (records, None));
    let position = u32::from_le_bytes([*a, *b, *c, *d]) as usize;
    let byte = position / 8 % file.len();
    file[byte] ^= 1 << (position % 8);
    let damaged = scan_bytes(&file, |_, _| Ok(()));
    assert!(
        damaged.is_err(),
        "a flipped bit at byte {byte} of {} (header {FILE_HEADER_BYTES}) was accepted: {damaged:?}",
        file.len()
    );
}
