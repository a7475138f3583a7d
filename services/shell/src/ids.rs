//! UUID-shaped ids (Alpaca's order, asset and account ids), without a UUID crate: the
//! text form of 16 bytes.

/// 16 bytes in a UUID's text form (`8-4-4-4-12` lowercase hex).
pub fn uuid_text(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A random UUID (version 4), from the operating system's random number generator.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&crate::auth::random_bytes(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(&b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sixteen_bytes_read_as_a_uuid() {
        let mut b = [0u8; 16];
        b[0] = 0xab;
        b[15] = 0x01;
        assert_eq!(super::uuid_text(&b), "ab000000-0000-0000-0000-000000000001");
    }

    #[test]
    fn random_uuids_are_version_4_and_differ() {
        let (a, b) = (super::random_uuid(), super::random_uuid());
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 36, "{id}");
            assert_eq!(&id[14..15], "4", "version nibble of {id}");
            assert!(
                matches!(&id[19..20], "8" | "9" | "a" | "b"),
                "variant of {id}"
            );
        }
    }
}
