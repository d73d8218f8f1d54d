//! A record's bytes as readers see them: the seq at its front (a varint read without decoding
//! the record) and hashes shown as 64 lowercase hex characters.

use crate::common;

use common::active;

#[test]
fn seq_of_reads_a_records_leading_varint_up_to_u64_max() {
    // Proves seq_of on the edges of a 10-byte varint: the largest seq reads back, a tenth byte
    // carrying more than the one bit left is refused (it would overflow), overlong zeros read
    // as 0, and a varint that never ends is refused.
    let mut max = [0xFF; 10];
    max[9] = 0x01;
    assert_eq!(autonomic_core::receipt::seq_of(&max), Some(u64::MAX));
    let mut over = max;
    over[9] = 0x02;
    assert_eq!(autonomic_core::receipt::seq_of(&over), None);
    let mut zero = [0x80; 10];
    zero[9] = 0x00;
    assert_eq!(autonomic_core::receipt::seq_of(&zero), Some(0));
    assert_eq!(autonomic_core::receipt::seq_of(&[0x80; 10]), None);
    assert_eq!(
        autonomic_core::receipt::seq_of(&[0x96, 0x01, 0xAA]),
        Some(150)
    );
}

#[test]
fn a_hash_is_shown_as_64_lowercase_hex_characters() {
    // Proves to_hex and Receipt::hash_hex, the form every adapter prints hashes in.
    let mut hash = [0u8; 32];
    hash[0] = 0xAB;
    hash[31] = 0x0F;
    let hex = autonomic_core::receipt::to_hex(&hash);
    assert_eq!(hex.len(), 64);
    assert_eq!(&hex[..4], "ab00");
    assert_eq!(&hex[60..], "000f");
    let e = active("acme");
    let receipt = e.ledger().by_seq(0).unwrap();
    assert_eq!(
        receipt.hash_hex().as_str(),
        autonomic_core::receipt::to_hex(&receipt.hash).as_str()
    );
    assert_eq!(receipt.hash_hex().len(), 64);
}
