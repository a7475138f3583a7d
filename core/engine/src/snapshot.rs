//! A [`State`]'s bytes: the content of a snapshot file.
//!
//! Layout (all integers little-endian): the magic `BOURSE\x01\x00` (name and format
//! version), then `seq: u64`, the instruments with their books, then the accounts.
//! Strings are the 16-byte padded [`FixedStr`]. Decoding checks every length against the
//! input and never panics on bad bytes; checksums belong to the file that carries it.

use crate::account::{Balance, Limits};
use crate::engine::Instrument;
use crate::state::{AccountState, BookState, RestingOrder, State};
use crate::types::{FixedStr, Price, Qty, TimeInForce, UserId};

const MAGIC: &[u8; 8] = b"BOURSE\x01\x00";

// Encoded sizes, which bound every count read back against the bytes that remain.
/// A resting order: user, id, price, open, filled, tif, post-only.
const ORDER_BYTES: usize = 8 + 16 + 8 + 8 + 8 + 1 + 1;
/// A book with no orders: symbol, tick, lot, two counts.
const BOOK_MIN_BYTES: usize = 16 + 8 + 8 + 8 + 8;
/// An account with no holdings: user, cash, limits, a count.
const ACCOUNT_MIN_BYTES: usize = 8 + 16 + (8 + 8 + 8 + 1 + 1) + 8;
/// A holding: symbol, total, reserved.
const HOLDING_BYTES: usize = 16 + 8 + 8;

/// Why a snapshot could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The input does not start with the snapshot magic and version.
    #[error("not a bourse snapshot (bad magic or version)")]
    BadMagic,
    /// The input ends before the state does.
    #[error("snapshot truncated")]
    Truncated,
    /// A field holds a value no state can have.
    #[error("invalid field in snapshot: {0}")]
    Invalid(&'static str),
    /// Bytes follow the end of the state.
    #[error("trailing bytes after snapshot")]
    Trailing,
}

/// Encodes a state.
pub fn encode(state: &State) -> Vec<u8> {
    let mut w = Vec::with_capacity(64 + state.accounts.len() * 64);
    w.extend_from_slice(MAGIC);
    let u64_ = |w: &mut Vec<u8>, v: u64| w.extend_from_slice(&v.to_le_bytes());
    let i64_ = |w: &mut Vec<u8>, v: i64| w.extend_from_slice(&v.to_le_bytes());
    u64_(&mut w, state.seq);
    u64_(&mut w, state.books.len() as u64);
    for b in &state.books {
        w.extend_from_slice(b.instrument.symbol.as_bytes());
        i64_(&mut w, b.instrument.tick);
        i64_(&mut w, b.instrument.lot);
        for side in [&b.bids, &b.asks] {
            u64_(&mut w, side.len() as u64);
            for o in side {
                u64_(&mut w, o.user.0);
                w.extend_from_slice(o.id.as_bytes());
                i64_(&mut w, o.price.0);
                i64_(&mut w, o.open.0);
                i64_(&mut w, o.filled.0);
                w.push(o.tif as u8);
                w.push(u8::from(o.post_only));
            }
        }
    }
    u64_(&mut w, state.accounts.len() as u64);
    for a in &state.accounts {
        u64_(&mut w, a.user.0);
        i64_(&mut w, a.cash.total);
        i64_(&mut w, a.cash.reserved);
        let l = &a.limits;
        i64_(&mut w, l.max_order_qty);
        i64_(&mut w, l.max_order_notional);
        u64_(&mut w, u64::from(l.max_open_orders));
        w.push(u8::from(l.trading_enabled));
        w.push(u8::from(l.self_trade_prevention));
        u64_(&mut w, a.holdings.len() as u64);
        for (s, bal) in &a.holdings {
            w.extend_from_slice(s.as_bytes());
            i64_(&mut w, bal.total);
            i64_(&mut w, bal.reserved);
        }
    }
    w
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], SnapshotError> {
        if self.0.len() < n {
            return Err(SnapshotError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(
            b.try_into().map_err(|_| SnapshotError::Truncated)?,
        ))
    }
    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(self.u64()? as i64)
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SnapshotError::Invalid("bool")),
        }
    }
    fn str(&mut self) -> Result<FixedStr, SnapshotError> {
        FixedStr::from_bytes(self.take(16)?).map_err(|_| SnapshotError::Invalid("string"))
    }
    /// A count, bounded by what the remaining input could possibly hold.
    fn len(&mut self, min_item: usize) -> Result<usize, SnapshotError> {
        let n = self.u64()?;
        if n > (self.0.len() / min_item) as u64 {
            return Err(SnapshotError::Truncated);
        }
        Ok(n as usize)
    }
}

/// Decodes a state encoded by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<State, SnapshotError> {
    let mut r = Reader(bytes);
    if r.take(8).map_err(|_| SnapshotError::BadMagic)? != MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let seq = r.u64()?;
    let nbooks = r.len(BOOK_MIN_BYTES)?;
    let mut books = Vec::with_capacity(nbooks);
    for _ in 0..nbooks {
        let instrument = Instrument {
            symbol: r.str()?,
            tick: r.i64()?,
            lot: r.i64()?,
        };
        let mut sides = [Vec::new(), Vec::new()];
        for side in &mut sides {
            let n = r.len(ORDER_BYTES)?;
            side.reserve(n);
            for _ in 0..n {
                side.push(RestingOrder {
                    user: UserId(r.u64()?),
                    id: r.str()?,
                    price: Price(r.i64()?),
                    open: Qty(r.i64()?),
                    filled: Qty(r.i64()?),
                    tif: match r.u8()? {
                        0 => TimeInForce::Gtc,
                        1 => TimeInForce::Day,
                        _ => return Err(SnapshotError::Invalid("resting time in force")),
                    },
                    post_only: r.bool()?,
                });
            }
        }
        let [bids, asks] = sides;
        books.push(BookState {
            instrument,
            bids,
            asks,
        });
    }
    let naccounts = r.len(ACCOUNT_MIN_BYTES)?;
    let mut accounts = Vec::with_capacity(naccounts);
    for _ in 0..naccounts {
        let user = UserId(r.u64()?);
        let cash = Balance {
            total: r.i64()?,
            reserved: r.i64()?,
        };
        let limits = Limits {
            max_order_qty: r.i64()?,
            max_order_notional: r.i64()?,
            max_open_orders: u32::try_from(r.u64()?)
                .map_err(|_| SnapshotError::Invalid("max_open_orders"))?,
            trading_enabled: r.bool()?,
            self_trade_prevention: r.bool()?,
        };
        let n = r.len(HOLDING_BYTES)?;
        let mut holdings = Vec::with_capacity(n);
        for _ in 0..n {
            holdings.push((
                r.str()?,
                Balance {
                    total: r.i64()?,
                    reserved: r.i64()?,
                },
            ));
        }
        accounts.push(AccountState {
            user,
            cash,
            holdings,
            limits,
        });
    }
    if !r.0.is_empty() {
        return Err(SnapshotError::Trailing);
    }
    Ok(State {
        seq,
        books,
        accounts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_book_of_many_orders_and_one_account_round_trips() {
        // Counts are bounded by the bytes left: the bound must be the exact item size,
        // or a state made mostly of orders is refused as truncated.
        let order = |i: i64| RestingOrder {
            user: UserId(1),
            id: FixedStr::new(&format!("o{i}")).unwrap(),
            price: Price(100 + i),
            open: Qty(1),
            filled: Qty(0),
            tif: TimeInForce::Gtc,
            post_only: false,
        };
        let state = State {
            seq: 9,
            books: vec![BookState {
                instrument: Instrument {
                    symbol: FixedStr::new("ACME").unwrap(),
                    tick: 1,
                    lot: 1,
                },
                bids: vec![],
                asks: (0..2_000).map(order).collect(),
            }],
            accounts: vec![AccountState {
                user: UserId(1),
                cash: Balance::default(),
                holdings: vec![(
                    FixedStr::new("ACME").unwrap(),
                    Balance {
                        total: 2_000,
                        reserved: 2_000,
                    },
                )],
                limits: Limits::default(),
            }],
        };
        assert_eq!(decode(&encode(&state)), Ok(state));
    }

    #[test]
    fn every_truncation_of_a_snapshot_is_an_error_not_a_panic() {
        let state = State {
            seq: 7,
            books: vec![BookState {
                instrument: Instrument {
                    symbol: FixedStr::new("ACME").unwrap(),
                    tick: 1,
                    lot: 1,
                },
                bids: vec![RestingOrder {
                    user: UserId(1),
                    id: FixedStr::new("b").unwrap(),
                    price: Price(10),
                    open: Qty(3),
                    filled: Qty(0),
                    tif: TimeInForce::Gtc,
                    post_only: false,
                }],
                asks: vec![],
            }],
            accounts: vec![AccountState {
                user: UserId(1),
                cash: Balance {
                    total: 100,
                    reserved: 30,
                },
                holdings: vec![],
                limits: Limits::default(),
            }],
        };
        let bytes = encode(&state);
        assert_eq!(decode(&bytes), Ok(state));
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "prefix of {n} bytes decoded");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(SnapshotError::Trailing));
        assert_eq!(decode(b"NOTASNAPSHOT"), Err(SnapshotError::BadMagic));
    }
}
