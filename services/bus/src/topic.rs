//! AMQP topic matching: `*` stands for exactly one word, `#` for zero or more.

/// Whether `routing_key` matches the binding `pattern`. Allocates nothing: consumers
/// call it for every message of every envelope they receive.
pub fn matches(pattern: &str, routing_key: &str) -> bool {
    matches_words(Some(pattern), Some(routing_key))
}

/// The first word of `words` and the words after it (`None`: that was the last).
fn first_word(words: &str) -> (&str, Option<&str>) {
    match words.split_once('.') {
        Some((word, rest)) => (word, Some(rest)),
        None => (words, None),
    }
}

/// Matches the words left of a pattern against the words left of a key (`None`: no
/// words left).
fn matches_words(pattern: Option<&str>, key: Option<&str>) -> bool {
    let Some(pattern) = pattern else {
        return key.is_none();
    };
    let (word, rest) = first_word(pattern);
    if word == "#" {
        // Zero words, or one more and try again.
        let mut key = key;
        loop {
            if matches_words(rest, key) {
                return true;
            }
            match key {
                Some(k) => key = first_word(k).1,
                None => return false,
            }
        }
    }
    match key {
        Some(k) => {
            let (kword, krest) = first_word(k);
            (word == "*" || word == kword) && matches_words(rest, krest)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn words_stars_and_hashes() {
        assert!(matches("exec.7", "exec.7"));
        assert!(!matches("exec.7", "exec.8"));
        assert!(matches("exec.*", "exec.8"));
        assert!(!matches("exec.*", "exec"));
        assert!(!matches("exec.*", "exec.8.x"));
        assert!(matches("exec.#", "exec"));
        assert!(matches("exec.#", "exec.8.x"));
        assert!(matches("#", "anything.at.all"));
        assert!(matches("#.changed.*", "portfolio.changed.3"));
        assert!(!matches("#.changed.*", "portfolio.changed"));
        assert!(matches("trade.*", "trade.ACME"));
        assert!(!matches("trade.*", "exec.ACME"));
        assert!(matches("#", ""));
        assert!(matches("*", ""));
        assert!(!matches("a.*", "a"));
        assert!(matches("a.#.b", "a.b"));
        assert!(matches("a.#.b", "a.x.y.b"));
        assert!(!matches("a.#.b", "a.x.y"));
        assert!(matches("#.#", "a"));
    }
}
