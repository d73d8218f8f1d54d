//! How the tenant index hashes and compares ids: [`tag_of`], the hash whose high bits an index
//! entry keeps and whose low bits are its home, and [`same_id`], the comparison a probe makes
//! when the tags match.

/// The high 32 bits of a 64-bit hash of the id: kept in the index entry, and its low bits are
/// the home position. The id is read eight bytes at a time (each word mixed in by a multiply
/// and a rotation, the last one zero-padded, the length as the seed), then one xorshift and
/// one multiply to carry every bit into the high 32: a 16-byte id costs three multiplies, not
/// sixteen. The tests below hold its spread and avalanche.
pub(super) fn tag_of(tenant: &str) -> u32 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mix = |hash: u64, word: u64| (hash ^ word).wrapping_mul(K).rotate_left(29);
    let mut hash = tenant.len() as u64;
    let mut words = tenant.as_bytes().chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        hash = mix(hash, u64::from_le_bytes(bytes));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        // The zero-padded little-endian word, built in a register: a copy into an array
        // read back as one word would stall on store forwarding.
        let word = rest
            .iter()
            .rev()
            .fold(0, |word, b| (word << 8) | u64::from(*b));
        hash = mix(hash, word);
    }
    hash ^= hash >> 29;
    (hash.wrapping_mul(0xff51_afd7_ed55_8ccd) >> 32) as u32
}

/// Whether two ids are the same bytes, compared eight at a time: for an id of a few words this
/// costs less than the call to `memcmp` that `==` on byte slices makes.
pub(super) fn same_id(a: &[u8], b: &[u8]) -> bool {
    let word = |w: &[u8]| u64::from_ne_bytes(w.try_into().unwrap_or_default());
    let (mut a_words, mut b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    a.len() == b.len()
        && a_words
            .by_ref()
            .zip(b_words.by_ref())
            .all(|(x, y)| word(x) == word(y))
        && a_words.remainder().iter().eq(b_words.remainder())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::collections::HashSet;
    use std::format;
    use std::string::String;

    use super::{same_id, tag_of};

    /// `tenant-000000` and on: ids that differ in one or two bytes, the usual shape.
    fn ids(n: usize) -> impl Iterator<Item = String> {
        (0..n).map(|i| format!("tenant-{i:06}"))
    }

    #[test]
    fn sequential_ids_get_distinct_tags_and_spread_homes() {
        // Proves the hash spreads ids that differ in a byte or two (every word and the tail
        // count): 10 000 of them get at least 9 990 distinct tags, and their homes in a
        // 16 384-entry index are as spread as random ones (7 488 distinct expected).
        let tags: HashSet<u32> = ids(10_000).map(|id| tag_of(&id)).collect();
        assert!(tags.len() >= 9_990, "{} distinct tags", tags.len());
        let homes: HashSet<u32> = tags.iter().map(|t| t & 16_383).collect();
        assert!(homes.len() >= 7_300, "{} distinct homes", homes.len());
    }

    #[test]
    fn one_flipped_bit_of_the_id_flips_about_half_of_the_tag() {
        // Proves the finalizer avalanches: over every single-bit change of 200 ids (kept
        // within visible ASCII), a tag bit flips with probability close to 1/2.
        let (mut flipped, mut trials) = (0u64, 0u64);
        for id in ids(200) {
            let tag = tag_of(&id);
            for at in 0..id.len() {
                for bit in 0..5 {
                    let mut bytes = id.clone().into_bytes();
                    bytes[at] ^= 1 << bit;
                    let Ok(other) = String::from_utf8(bytes) else {
                        continue;
                    };
                    flipped += u64::from((tag ^ tag_of(&other)).count_ones());
                    trials += 32;
                }
            }
        }
        let share = flipped as f64 / trials as f64;
        assert!(
            (0.47..=0.53).contains(&share),
            "{share:.3} of the tag's bits flip"
        );
    }

    #[test]
    fn same_id_is_byte_equality() {
        // Proves same_id agrees with `==` on every pair that matters to a probe: equal ids of
        // every length up to five words, one differing byte anywhere (in a whole word or in
        // the tail), and an id against its own prefixes and extensions.
        let ids: std::vec::Vec<String> = (1..=40)
            .map(|n| "abcdefghij".repeat(4)[..n].into())
            .collect();
        for a in &ids {
            assert!(same_id(a.as_bytes(), a.clone().as_bytes()), "{a}");
            for at in 0..a.len() {
                let mut other = a.clone().into_bytes();
                other[at] = b'!';
                assert!(!same_id(a.as_bytes(), &other), "{a} at {at}");
            }
            for b in &ids {
                assert_eq!(same_id(a.as_bytes(), b.as_bytes()), a == b, "{a} {b}");
            }
        }
    }
}
