//! Decimal strings at the edge, integers inside: `"100.50"` ⇄ 10050 cents, `"10"` ⇄ 10
//! shares. A value that is not a whole number of the unit is refused (422), never
//! rounded.

use crate::ApiError;

/// Parses a non-negative decimal with at most `scale` fractional digits into units of
/// `10^-scale` (`parse_fixed("100.5", 2) == 10050`).
pub fn parse_fixed(field: &str, text: &str, scale: u32) -> Result<i64, ApiError> {
    let bad = |why: &str| ApiError::unprocessable(format!("{field}: {why} (got {text:?})"));
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty() && frac.is_empty() {
        return Err(bad("a number is required"));
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("a non-negative decimal number is required"));
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > scale as usize {
        return Err(bad(&format!(
            "at most {scale} decimal places (no rounding is done)"
        )));
    }
    let unit = 10i64.pow(scale);
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad("too large"))?
    };
    let frac_units: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().map_err(|_| bad("too large"))? * 10i64.pow(scale - frac.len() as u32)
    };
    whole
        .checked_mul(unit)
        .and_then(|w| w.checked_add(frac_units))
        .ok_or_else(|| bad("too large"))
}

/// Formats units of `10^-scale` as a decimal with exactly `scale` places.
pub fn format_fixed(units: i64, scale: u32) -> String {
    if scale == 0 {
        return units.to_string();
    }
    let unit = 10i64.pow(scale);
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / unit as u64,
        abs % unit as u64,
        width = scale as usize
    )
}

/// Cents from `"100.50"`.
pub fn parse_cents(field: &str, text: &str) -> Result<i64, ApiError> {
    parse_fixed(field, text, 2)
}

/// `"100.50"` from cents.
pub fn format_cents(cents: i64) -> String {
    format_fixed(cents, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_to_integers_and_back() {
        struct Case {
            text: &'static str,
            scale: u32,
            want: Option<i64>,
        }
        let cases = [
            Case {
                text: "100.50",
                scale: 2,
                want: Some(10050),
            },
            Case {
                text: "100.5",
                scale: 2,
                want: Some(10050),
            },
            Case {
                text: "100",
                scale: 2,
                want: Some(10000),
            },
            Case {
                text: "0.01",
                scale: 2,
                want: Some(1),
            },
            Case {
                text: ".5",
                scale: 2,
                want: Some(50),
            },
            Case {
                text: "100.500",
                scale: 2,
                want: Some(10050),
            },
            Case {
                text: "100.505",
                scale: 2,
                want: None,
            },
            Case {
                text: "10",
                scale: 0,
                want: Some(10),
            },
            Case {
                text: "10.5",
                scale: 0,
                want: None,
            },
            Case {
                text: "-1",
                scale: 2,
                want: None,
            },
            Case {
                text: "1e3",
                scale: 2,
                want: None,
            },
            Case {
                text: "",
                scale: 2,
                want: None,
            },
            Case {
                text: ".",
                scale: 2,
                want: None,
            },
            Case {
                text: "99999999999999999999",
                scale: 2,
                want: None,
            },
        ];
        for c in cases {
            let got = parse_fixed("price", c.text, c.scale).ok();
            assert_eq!(got, c.want, "{:?} at scale {}", c.text, c.scale);
        }
        assert_eq!(format_cents(10050), "100.50");
        assert_eq!(format_cents(-5), "-0.05");
        assert_eq!(format_fixed(7, 0), "7");
        let err = parse_cents("limit_price", "1.001").unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.message.contains("limit_price"), "{}", err.message);
    }
}
