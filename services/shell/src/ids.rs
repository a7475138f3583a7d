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

#[cfg(test)]
mod tests {
    #[test]
    fn sixteen_bytes_read_as_a_uuid() {
        let mut b = [0u8; 16];
        b[0] = 0xab;
        b[15] = 0x01;
        assert_eq!(super::uuid_text(&b), "ab000000-0000-0000-0000-000000000001");
    }
}
