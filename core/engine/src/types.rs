//! Domain newtypes: prices, quantities, identifiers and short fixed strings.
//!
//! Every value that crosses the engine boundary has its own `Copy` type so that a
//! quantity can never be passed where a price is expected. Money and prices are `i64`
//! minor units (cents); quantities are whole units (shares). No floats anywhere.

use std::fmt;

/// A price in minor currency units (cents). Must be positive and a multiple of the
/// instrument's tick to be accepted by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Price(pub i64);

/// A quantity of shares (or, for cash, of minor units).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Qty(pub i64);

/// An amount of an asset: minor units of cash or whole shares.
pub type Amount = i64;

/// A user's identifier, chosen outside the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UserId(pub u64);

/// The engine's dense index of an instrument, assigned in the order instruments are added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SymbolId(pub u32);

impl SymbolId {
    /// An id that no instrument has: shells map unknown names to it so that the engine
    /// answers `unknown_symbol` with a proper sequence number.
    pub const UNKNOWN: SymbolId = SymbolId(u32::MAX);
}

/// The sequence number of an event (or of a journaled command), rising by one from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub u64);

/// Order side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    /// Bid.
    Buy = 0,
    /// Offer.
    Sell = 1,
}

impl Side {
    /// The other side.
    #[inline]
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// Lower-case wire name (`buy`, `sell`).
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// Time in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TimeInForce {
    /// Good till canceled: rests until filled or canceled.
    Gtc = 0,
    /// Rests until the `end_of_day` admin command expires it.
    Day = 1,
    /// Immediate or cancel: fills what it can now, cancels the rest.
    Ioc = 2,
    /// Fill or kill: fills completely now or not at all.
    Fok = 3,
}

impl TimeInForce {
    /// Whether an order with this time in force may rest on the book.
    #[inline]
    pub fn rests(self) -> bool {
        matches!(self, TimeInForce::Gtc | TimeInForce::Day)
    }

    /// Lower-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "gtc",
            TimeInForce::Day => "day",
            TimeInForce::Ioc => "ioc",
            TimeInForce::Fok => "fok",
        }
    }
}

/// Order type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderType {
    /// Has a limit price; may rest.
    Limit = 0,
    /// No price; takes what liquidity there is and never rests.
    Market = 1,
}

/// Error for a string that does not fit a [`FixedStr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FixedStrError {
    /// Empty string.
    #[error("empty")]
    Empty,
    /// Longer than [`FixedStr::CAPACITY`] bytes.
    #[error("longer than 16 bytes")]
    TooLong,
    /// Contains a byte outside printable ASCII (0x21..=0x7e).
    #[error("not printable ASCII")]
    NotPrintable,
}

/// Up to 16 bytes of printable ASCII, stored inline and padded with zeros: symbols and
/// client order ids travel inside fixed-size commands and events without allocating.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FixedStr([u8; 16]);

impl FixedStr {
    /// Maximum length in bytes.
    pub const CAPACITY: usize = 16;

    /// Checked constructor: 1 to 16 bytes of printable, non-space ASCII.
    pub fn new(s: &str) -> Result<Self, FixedStrError> {
        Self::from_bytes(s.as_bytes())
    }

    /// Checked constructor from raw bytes (trailing zero padding is allowed).
    pub fn from_bytes(b: &[u8]) -> Result<Self, FixedStrError> {
        let len = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        if len == 0 {
            return Err(FixedStrError::Empty);
        }
        if len > Self::CAPACITY || b[len..].iter().any(|&c| c != 0) {
            return Err(FixedStrError::TooLong);
        }
        if !b[..len].iter().all(|c| (0x21..=0x7e).contains(c)) {
            return Err(FixedStrError::NotPrintable);
        }
        let mut out = [0u8; 16];
        out[..len].copy_from_slice(&b[..len]);
        Ok(FixedStr(out))
    }

    /// The raw padded bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The string without padding.
    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&c| c == 0).unwrap_or(16);
        // Constructors admit only ASCII, so this cannot fail; fall back to "" defensively.
        std::str::from_utf8(&self.0[..len]).unwrap_or("")
    }
}

impl fmt::Debug for FixedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for FixedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An instrument's ticker, e.g. `ACME`.
pub type Symbol = FixedStr;

/// A client's order id, unique among that user's open orders (as OUCH's order token).
pub type ClientOrderId = FixedStr;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_str_round_trips_and_rejects_bad_input() {
        let s = FixedStr::new("ACME").unwrap();
        assert_eq!(s.as_str(), "ACME");
        assert_eq!(FixedStr::from_bytes(s.as_bytes()).unwrap(), s);
        assert_eq!(FixedStr::new(""), Err(FixedStrError::Empty));
        assert_eq!(
            FixedStr::new("0123456789abcdefg"),
            Err(FixedStrError::TooLong)
        );
        assert_eq!(FixedStr::new("a b"), Err(FixedStrError::NotPrintable));
        assert_eq!(
            FixedStr::from_bytes(b"ab\0c"),
            Err(FixedStrError::TooLong),
            "bytes after the padding are refused"
        );
        assert_eq!(
            FixedStr::new("0123456789abcdef").unwrap().as_str().len(),
            16
        );
    }

    #[test]
    fn side_and_tif_helpers() {
        assert_eq!(Side::Buy.opposite(), Side::Sell);
        assert!(TimeInForce::Day.rests());
        assert!(!TimeInForce::Ioc.rests());
    }
}
