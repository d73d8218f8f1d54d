//! One rule for text that leaves the process on one line (error messages, action details,
//! log fields): every control character (newlines, tabs, carriage returns included) becomes
//! a space, and the text is cut to a byte bound on a character boundary.

/// `text` on one line, at most `max_bytes` bytes.
#[must_use]
pub fn one_line(text: &str, max_bytes: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > max_bytes {
        let mut end = max_bytes;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(one_line("a\nb\r\tc\u{7}", 64), "a b  c ");
    }

    #[test]
    fn cut_on_a_character_boundary() {
        // "é" is two bytes: a cut inside it backs off to the boundary before it.
        assert_eq!(one_line("abé", 3), "ab");
        assert_eq!(one_line("abé", 4), "abé");
        assert_eq!(one_line("", 0), "");
    }
}
