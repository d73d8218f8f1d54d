//! `receipt_decode`: arbitrary bytes through `Receipt::decode`; whatever decodes re-encodes
//! to exactly the same bytes (only the canonical encoding decodes), and the raw field readers
//! (`seq_of`, `prev_hash_of`, `hash_of`, `check_link`) agree with the decoded fields.

use autonomic_core::Receipt;
use autonomic_core::receipt::{check_link, hash_of, prev_hash_of, seq_of};
use sha2::{Digest, Sha256};

/// The target's body.
pub fn run(data: &[u8]) {
    let Ok(receipt) = Receipt::decode(data) else {
        return;
    };
    let mut buf = [0u8; 1024];
    let encoded = receipt
        .encode_into(&mut buf)
        .expect("a decoded receipt re-encodes")
        .to_vec();
    let again = Receipt::decode(&encoded).expect("a re-encoded receipt decodes");
    assert_eq!(again, receipt, "decode(encode(r)) != r");
    let mut buf2 = [0u8; 1024];
    assert_eq!(
        again.encode_into(&mut buf2).expect("encodes"),
        &encoded[..],
        "encoding is not a fixed point"
    );
    assert_eq!(&encoded[..], data, "a non-canonical encoding decoded");
    assert_eq!(
        seq_of(data),
        Some(receipt.seq),
        "seq_of disagrees with decode"
    );
    assert_eq!(
        hash_of(data),
        Some(receipt.hash),
        "hash_of disagrees with decode"
    );
    assert_eq!(
        prev_hash_of(data),
        Some(receipt.prev_hash),
        "prev_hash_of disagrees with decode"
    );
    let body_hash: [u8; 32] = Sha256::digest(&data[..data.len() - 32]).into();
    let linked = check_link(data, receipt.seq, &receipt.prev_hash);
    assert_eq!(
        linked.is_ok(),
        body_hash == receipt.hash,
        "check_link vs SHA-256 of the body: {linked:?}"
    );
}
