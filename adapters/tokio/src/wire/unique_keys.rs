//! Duplicate keys: a body naming a key twice in one object, at any depth, is refused.

use serde::Deserialize;

use super::cut;

/// Checks that `json` is one JSON value whose objects, at every depth, name each key once
/// (after unescaping: `"a"` and `"\u0061"` are the same key). serde_json's own depth limit
/// (128) bounds the recursion.
pub fn check_unique_keys(json: &[u8]) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    UniqueKeys::deserialize(&mut de)?;
    de.end()
}

/// Keys of one object compared by a linear scan before a hash set takes over.
const LINEAR_KEYS_MAX: usize = 16;

/// A JSON value walked only to find duplicate keys.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        // Request objects have a handful of keys: a linear scan over borrowed keys beats
        // hashing owned copies (this runs for every signal of every batch). A hostile object
        // with many keys switches to a hash set, so the check stays linear.
        let mut few: Vec<Key<'de>> = Vec::new();
        let mut many: std::collections::HashSet<String> = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            map.next_value::<UniqueKeys>()?;
            let repeated = if few.len() < LINEAR_KEYS_MAX {
                let repeated = few.iter().any(|k| k.as_str() == key.as_str());
                few.push(key);
                repeated.then(|| few.last().map_or("", Key::as_str).to_owned())
            } else {
                if many.is_empty() {
                    many.extend(few.iter().map(|k| k.as_str().to_owned()));
                }
                let k = key.as_str().to_owned();
                (!many.insert(k.clone())).then_some(k)
            };
            if let Some(key) = repeated {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key {:?}",
                    cut(&key)
                )));
            }
        }
        Ok(UniqueKeys)
    }
}

/// An object key: borrowed from the body when it has no escapes, else unescaped and owned.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> serde::de::Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
        Ok(Key::Owned(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse_signals;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        // Proves a key named twice in one object is refused, escaped or not, nested or
        // not, while the same key in sibling objects is fine.
        for body in [
            r#"{"tenant":"a","metric":"cpu","value":1,"ts_ms":2,"value":99}"#,
            r#"{"tenant":"a","metric":"cpu","value":1,"ts_ms":2,"x":1,"x":2}"#,
            r#"[{"tenant":"a","metric":"cpu","value":1,"ts_ms":2,"pad":{"k":1,"\u006b":2}}]"#,
        ] {
            let refused = parse_signals(body.as_bytes());
            assert!(
                refused.is_err_and(|m| m.contains("duplicate key")),
                "{body}"
            );
        }
        let siblings = br#"[{"tenant":"a","metric":"cpu","value":1,"ts_ms":2},
                            {"tenant":"a","metric":"cpu","value":1,"ts_ms":3}]"#;
        assert_eq!(parse_signals(siblings).map(|v| v.len()), Ok(2));
        assert!(check_unique_keys(br#"{"a":[{"b":1},{"b":2}]}"#).is_ok());
        assert!(check_unique_keys(br#"{"a":1} x"#).is_err());
    }

    #[test]
    fn many_keys_are_checked_past_the_linear_scan() {
        // Proves the hash-set path: an object with more keys than the linear scan holds finds
        // a repeat before and after the switch, and accepts 10 000 distinct keys.
        let keys = |n: usize| (0..n).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>();
        let distinct = format!("{{{}}}", keys(10_000).join(","));
        assert!(check_unique_keys(distinct.as_bytes()).is_ok());
        for at in [
            3,
            LINEAR_KEYS_MAX - 1,
            LINEAR_KEYS_MAX,
            LINEAR_KEYS_MAX + 5,
            9_999,
        ] {
            let mut k = keys(10_000);
            k.push(format!("\"k{at}\":0"));
            let body = format!("{{{}}}", k.join(","));
            let refused = check_unique_keys(body.as_bytes());
            assert!(
                refused.is_err_and(|e| e.to_string().contains("duplicate key")),
                "{at}"
            );
        }
    }
}
