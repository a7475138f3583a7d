//! Binary encoding of [`Command`]s for journal records.
//!
//! A tag byte, then the fields little-endian in declaration order; strings are 16-byte
//! padded [`FixedStr`]s; optionals a presence byte then the value. At most
//! [`MAX_COMMAND_LEN`] bytes. [`decode`] checks every byte and never panics.

use bourse_core::{
    Asset, ClientOrderId, Command, FixedStr, LimitsUpdate, NewOrder, OrderType, Price, Qty,
    RejectReason, Side, SymbolId, TimeInForce, UserId,
};

/// The longest encoded command.
pub const MAX_COMMAND_LEN: usize = 64;

/// Why bytes are not a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Ends early.
    #[error("command truncated")]
    Truncated,
    /// An unknown tag or enum value.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Bytes after the command.
    #[error("trailing bytes after command")]
    Trailing,
}

struct W<'a>(&'a mut Vec<u8>);

impl W<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn s(&mut self, v: &FixedStr) {
        self.0.extend_from_slice(v.as_bytes());
    }
    fn opt<T>(&mut self, v: Option<T>, f: impl FnOnce(&mut Self, T)) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
            }
        }
    }
    fn asset(&mut self, a: Asset) {
        match a {
            Asset::Cash => self.u32(u32::MAX - 1),
            Asset::Shares(s) => self.u32(s.0),
        }
    }
}

/// Appends the encoding of `cmd` to `out`.
pub fn encode(cmd: &Command, out: &mut Vec<u8>) {
    let mut w = W(out);
    match *cmd {
        Command::AddInstrument { symbol, tick, lot } => {
            w.u8(1);
            w.s(&symbol);
            w.i64(tick.0);
            w.i64(lot.0);
        }
        Command::AddUser { user } => {
            w.u8(2);
            w.u64(user.0);
        }
        Command::Deposit {
            user,
            asset,
            amount,
        } => {
            w.u8(3);
            w.u64(user.0);
            w.asset(asset);
            w.i64(amount);
        }
        Command::Withdraw {
            user,
            asset,
            amount,
        } => {
            w.u8(4);
            w.u64(user.0);
            w.asset(asset);
            w.i64(amount);
        }
        Command::SetLimits { user, limits: l } => {
            w.u8(5);
            w.u64(user.0);
            w.opt(l.max_order_qty, |w, q| w.i64(q.0));
            w.opt(l.max_order_notional, W::i64);
            w.opt(l.max_open_orders, W::u32);
            w.opt(l.trading_enabled, |w, b| w.u8(u8::from(b)));
            w.opt(l.self_trade_prevention, |w, b| w.u8(u8::from(b)));
        }
        Command::New(o) => {
            w.u8(6);
            w.u64(o.user.0);
            w.s(&o.id);
            w.u32(o.symbol.0);
            w.u8(o.side as u8);
            w.u8(o.order_type as u8);
            w.i64(o.price.0);
            w.i64(o.qty.0);
            w.u8(o.tif as u8);
            w.u8(u8::from(o.post_only));
        }
        Command::Cancel { user, id } => {
            w.u8(7);
            w.u64(user.0);
            w.s(&id);
        }
        Command::Replace {
            user,
            id,
            new_id,
            price,
            qty,
        } => {
            w.u8(8);
            w.u64(user.0);
            w.s(&id);
            w.s(&new_id);
            w.i64(price.0);
            w.i64(qty.0);
        }
        Command::EndOfDay => w.u8(9),
        Command::Invalid { user, id, reason } => {
            w.u8(10);
            w.opt(user, |w, u| w.u64(u.0));
            w.opt(id, |w, i| w.s(&i));
            w.u8(reason.code());
        }
    }
}

struct R<'a>(&'a [u8]);

impl R<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        if self.0.len() < N {
            return Err(CodecError::Truncated);
        }
        let (h, t) = self.0.split_at(N);
        self.0 = t;
        h.try_into().map_err(|_| CodecError::Truncated)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, CodecError> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    fn bool(&mut self) -> Result<bool, CodecError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CodecError::Invalid("bool")),
        }
    }
    fn s(&mut self) -> Result<ClientOrderId, CodecError> {
        FixedStr::from_bytes(&self.take::<16>()?).map_err(|_| CodecError::Invalid("string"))
    }
    fn opt<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, CodecError>,
    ) -> Result<Option<T>, CodecError> {
        if self.bool()? {
            f(self).map(Some)
        } else {
            Ok(None)
        }
    }
    fn asset(&mut self) -> Result<Asset, CodecError> {
        Ok(match self.u32()? {
            v if v == u32::MAX - 1 => Asset::Cash,
            s => Asset::Shares(SymbolId(s)),
        })
    }
}

/// Decodes one command that fills `bytes` exactly.
pub fn decode(bytes: &[u8]) -> Result<Command, CodecError> {
    let mut r = R(bytes);
    let cmd = match r.u8()? {
        1 => Command::AddInstrument {
            symbol: r.s()?,
            tick: Price(r.i64()?),
            lot: Qty(r.i64()?),
        },
        2 => Command::AddUser {
            user: UserId(r.u64()?),
        },
        3 => Command::Deposit {
            user: UserId(r.u64()?),
            asset: r.asset()?,
            amount: r.i64()?,
        },
        4 => Command::Withdraw {
            user: UserId(r.u64()?),
            asset: r.asset()?,
            amount: r.i64()?,
        },
        5 => Command::SetLimits {
            user: UserId(r.u64()?),
            limits: LimitsUpdate {
                max_order_qty: r.opt(|r| r.i64().map(Qty))?,
                max_order_notional: r.opt(R::i64)?,
                max_open_orders: r.opt(R::u32)?,
                trading_enabled: r.opt(R::bool)?,
                self_trade_prevention: r.opt(R::bool)?,
            },
        },
        6 => Command::New(NewOrder {
            user: UserId(r.u64()?),
            id: r.s()?,
            symbol: SymbolId(r.u32()?),
            side: match r.u8()? {
                0 => Side::Buy,
                1 => Side::Sell,
                _ => return Err(CodecError::Invalid("side")),
            },
            order_type: match r.u8()? {
                0 => OrderType::Limit,
                1 => OrderType::Market,
                _ => return Err(CodecError::Invalid("order type")),
            },
            price: Price(r.i64()?),
            qty: Qty(r.i64()?),
            tif: match r.u8()? {
                0 => TimeInForce::Gtc,
                1 => TimeInForce::Day,
                2 => TimeInForce::Ioc,
                3 => TimeInForce::Fok,
                _ => return Err(CodecError::Invalid("time in force")),
            },
            post_only: r.bool()?,
        }),
        7 => Command::Cancel {
            user: UserId(r.u64()?),
            id: r.s()?,
        },
        8 => Command::Replace {
            user: UserId(r.u64()?),
            id: r.s()?,
            new_id: r.s()?,
            price: Price(r.i64()?),
            qty: Qty(r.i64()?),
        },
        9 => Command::EndOfDay,
        10 => Command::Invalid {
            user: r.opt(|r| r.u64().map(UserId))?,
            id: r.opt(R::s)?,
            reason: RejectReason::from_code(r.u8()?).ok_or(CodecError::Invalid("reason"))?,
        },
        _ => return Err(CodecError::Invalid("command tag")),
    };
    if !r.0.is_empty() {
        return Err(CodecError::Trailing);
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &str) -> FixedStr {
        FixedStr::new(v).unwrap()
    }

    #[test]
    fn every_command_round_trips() {
        let cmds = [
            Command::AddInstrument {
                symbol: s("ACME"),
                tick: Price(5),
                lot: Qty(10),
            },
            Command::AddUser { user: UserId(7) },
            Command::Deposit {
                user: UserId(7),
                asset: Asset::Cash,
                amount: 5,
            },
            Command::Withdraw {
                user: UserId(7),
                asset: Asset::Shares(SymbolId(3)),
                amount: 5,
            },
            Command::SetLimits {
                user: UserId(1),
                limits: LimitsUpdate {
                    max_order_qty: Some(Qty(3)),
                    max_order_notional: None,
                    max_open_orders: Some(9),
                    trading_enabled: Some(false),
                    self_trade_prevention: None,
                },
            },
            Command::New(NewOrder {
                user: UserId(u64::MAX),
                id: s("0123456789abcdef"),
                symbol: SymbolId::UNKNOWN,
                side: Side::Sell,
                order_type: OrderType::Market,
                price: Price(-1),
                qty: Qty(i64::MAX),
                tif: TimeInForce::Fok,
                post_only: true,
            }),
            Command::Cancel {
                user: UserId(1),
                id: s("x"),
            },
            Command::Replace {
                user: UserId(1),
                id: s("x"),
                new_id: s("y"),
                price: Price(1),
                qty: Qty(2),
            },
            Command::EndOfDay,
            Command::Invalid {
                user: None,
                id: Some(s("q")),
                reason: RejectReason::Malformed,
            },
        ];
        for c in cmds {
            let mut buf = Vec::new();
            encode(&c, &mut buf);
            assert!(buf.len() <= MAX_COMMAND_LEN, "{c:?} is {} bytes", buf.len());
            assert_eq!(decode(&buf), Ok(c));
            for n in 0..buf.len() {
                assert!(decode(&buf[..n]).is_err());
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(c) = decode(&bytes) {
                let mut again = Vec::new();
                encode(&c, &mut again);
                prop_assert_eq!(again, bytes);
            }
        }
    }
}
