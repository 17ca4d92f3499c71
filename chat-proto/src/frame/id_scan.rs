//! Finding a frame's `id` when the frame as a whole does not decode.
//!
//! A request that cannot be decoded must still be answered with its id whenever the id can
//! be read, or the client's request waits forever: a lone surrogate in a message body (what
//! a JavaScript client sends after cutting an emoji in half), nesting past the depth limit
//! in a field the server ignores, or a truncated frame all leave the `id` itself intact.
//!
//! The scan walks the members of the top-level object without building anything and
//! without recursion (so depth costs nothing), skipping the values it does not need, and
//! tolerates anything inside strings. It stops at the first byte that breaks the object's
//! shape and keeps what it found before it.

/// The raw JSON string token (quotes included) of the top-level `id` member; the last one
/// when the key repeats, as a JSON parser would keep it.
pub(super) fn find_id(bytes: &[u8]) -> Option<&[u8]> {
    let mut i = skip_whitespace(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut found = None;
    loop {
        i = skip_whitespace(bytes, i);
        if bytes.get(i) != Some(&b'"') {
            return found;
        }
        let Some(key_end) = string_end(bytes, i) else {
            return found;
        };
        let key = &bytes[i..key_end];
        i = skip_whitespace(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return found;
        }
        i = skip_whitespace(bytes, i + 1);
        let Some(value_end) = value_end(bytes, i) else {
            return found;
        };
        if bytes[i] == b'"' && is_id_key(key) {
            found = Some(&bytes[i..value_end]);
        }
        i = skip_whitespace(bytes, value_end);
        if bytes.get(i) != Some(&b',') {
            return found;
        }
        i += 1;
    }
}

/// Whether a key token reads `"id"`, escapes included (`"\u0069d"` is `id` to a parser).
fn is_id_key(key: &[u8]) -> bool {
    if key == b"\"id\"" {
        return true;
    }
    key.contains(&b'\\') && serde_json::from_slice::<String>(key).is_ok_and(|k| k == "id")
}

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index just past the string token that starts at `start` (a `"`), or `None` when the
/// input ends inside it.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match bytes.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The index just past the value that starts at `start`, or `None` when the input ends
/// inside it or no value starts there.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => string_end(bytes, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            loop {
                match bytes.get(i)? {
                    b'"' => {
                        i = string_end(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            // A number, `true`, `false`, `null` or garbage: up to the next delimiter.
            let len = bytes[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(bytes.len() - start);
            (len > 0).then_some(start + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::find_id;

    fn id_of(text: &str) -> Option<&str> {
        find_id(text.as_bytes()).map(|raw| std::str::from_utf8(raw).unwrap())
    }

    #[test]
    fn finds_the_id_member_of_the_top_level_object_only() {
        assert_eq!(id_of(r#"{"id":"a","type":"ping"}"#), Some(r#""a""#));
        assert_eq!(id_of(r#" { "type" : "ping" , "id" : "b" } "#), Some(r#""b""#));
        assert_eq!(id_of(r#"{"x":{"id":"inner"},"y":["id","z"]}"#), None);
        assert_eq!(id_of(r#"{"x":{"id":"inner"},"id":"outer"}"#), Some(r#""outer""#));
        assert_eq!(id_of(r#"{"id":"first","id":"last"}"#), Some(r#""last""#));
        assert_eq!(id_of(r#"{"\u0069d":"escaped"}"#), Some(r#""escaped""#));
        assert_eq!(id_of(r#"{"id":42}"#), None);
        assert_eq!(id_of(r#"["id","a"]"#), None);
        assert_eq!(id_of(""), None);
    }

    #[test]
    fn reads_past_what_a_parser_refuses() {
        // A lone surrogate, brackets and quotes inside strings, deep nesting, a number
        // a parser would refuse.
        let text = format!(
            r#"{{"body":"\ud83d \" ] }} [","deep":{}{},"n":01x,"id":"c"}}"#,
            "[".repeat(1000),
            "]".repeat(1000)
        );
        assert_eq!(id_of(&text), Some(r#""c""#));
    }

    #[test]
    fn never_panics_on_json_like_noise() {
        // A fixed xorshift sequence over the bytes that steer the scan.
        const ALPHABET: &[u8] = b"{}[]\":,\\ id0\xff";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let len = (state % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ALPHABET[(state % ALPHABET.len() as u64) as usize]
                })
                .collect();
            let _ = find_id(&bytes);
        }
    }

    #[test]
    fn keeps_what_it_found_before_the_frame_breaks() {
        assert_eq!(id_of(r#"{"id":"d","type":"pi"#), Some(r#""d""#));
        assert_eq!(id_of(r#"{"id":"e" "type":"ping"}"#), Some(r#""e""#));
        assert_eq!(id_of(r#"{"type":"pi"#), None);
        assert_eq!(id_of(r#"{"id":"unterminated"#), None);
        assert_eq!(id_of(r#"{"x":[[["#), None);
    }
}
