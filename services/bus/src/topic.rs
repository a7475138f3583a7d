//! AMQP topic matching: `*` stands for exactly one word, `#` for zero or more.

/// Whether `routing_key` matches the binding `pattern`.
pub fn matches(pattern: &str, routing_key: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = routing_key.split('.').collect();
    matches_words(&p, &k)
}

fn matches_words(p: &[&str], k: &[&str]) -> bool {
    match p.split_first() {
        None => k.is_empty(),
        Some((&"#", rest)) => (0..=k.len()).any(|skip| matches_words(rest, &k[skip..])),
        Some((&word, rest)) => match k.split_first() {
            Some((&key, krest)) => (word == "*" || word == key) && matches_words(rest, krest),
            None => false,
        },
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
    }
}
