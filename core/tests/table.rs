//! The list over caller-provided storage (`autonomic_core::table::Table`): what `retain`
//! keeps, in which order, and what it leaves in the slots it frees.

use autonomic_core::table::Table;

#[test]
fn retain_keeps_the_accepted_in_order_and_clears_the_freed_slots() {
    // Proves one pass keeps exactly the elements accepted, in their order, frees the rest
    // (default values in the freed slots, untouched slots beyond the length), and that the
    // freed room takes new elements.
    let mut slots = [0u32; 8];
    {
        let mut t = Table::new(&mut slots);
        for v in [1, 2, 3, 4, 5, 6] {
            t.push(v).unwrap();
        }
        t.retain(|v| v % 2 == 0);
        assert_eq!(t.as_slice(), [2, 4, 6]);
        assert_eq!(t.len(), 3);
        assert!(!t.is_empty());
        t.retain(|_| true);
        assert_eq!(t.as_slice(), [2, 4, 6], "keeping all changes nothing");
        t.push(7).unwrap();
        assert_eq!(t.as_slice(), [2, 4, 6, 7]);
        t.retain(|v| *v > 100);
        assert!(t.is_empty());
    }
    assert_eq!(slots, [0; 8], "freed slots hold the default");
}
