//! Events: everything the engine says, each stamped with a global sequence number.
//!
//! Rejections are values, not errors: [`RejectReason`] has stable numeric codes shared by
//! the replay format, the binary protocol and the HTTP API.

use crate::command::AdminOp;
use crate::types::{ClientOrderId, Price, Qty, Seq, Side, SymbolId, UserId};

/// Why a command was refused. The `u8` codes are part of the wire protocol: never reuse one.
///
/// Codes 1–12 come from the engine; 13 and up only from the gateway, for input that never
/// reached the engine (the engine itself never emits them) or, 20, about a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RejectReason {
    /// The input could not be parsed, or a required field is missing.
    Malformed = 1,
    /// No such instrument.
    UnknownSymbol = 2,
    /// No such user.
    UnknownUser = 3,
    /// No such open order of this user.
    UnknownOrder = 4,
    /// The id is already in use (an open order, a user or an instrument).
    DuplicateId = 5,
    /// Zero, negative or off-tick price.
    InvalidPrice = 6,
    /// Zero, negative or off-lot quantity (or amount).
    InvalidQty = 7,
    /// Not enough free cash.
    InsufficientFunds = 8,
    /// Not enough free shares.
    InsufficientShares = 9,
    /// A per-user trading condition would be broken.
    LimitExceeded = 10,
    /// The user's trading is disabled.
    TradingDisabled = 11,
    /// A post-only order would have taken liquidity.
    PostOnlyWouldCross = 12,
    /// Gateway: the session sent more messages per second than it may.
    Throttled = 13,
    /// Gateway: an order message before a successful login.
    NotLoggedIn = 14,
    /// Gateway: a protocol version the gateway does not speak.
    UnsupportedVersion = 15,
    /// Gateway: an unknown message type.
    UnknownMessageType = 16,
    /// Gateway: a frame whose length does not match its type.
    BadLength = 17,
    /// Gateway: unknown API key or wrong secret.
    BadCredentials = 18,
    /// Gateway: a service message (acting for a user, or an admin command) from a
    /// session whose key is not a service key.
    NotPrivileged = 19,
    /// Gateway: another connection logged in with this user's key, and took over its
    /// reports; this one is logged out (sent unsolicited, in `LoginRejected`).
    LoggedInElsewhere = 20,
}

impl RejectReason {
    /// Every reason, in code order.
    pub const ALL: [RejectReason; 20] = [
        RejectReason::Malformed,
        RejectReason::UnknownSymbol,
        RejectReason::UnknownUser,
        RejectReason::UnknownOrder,
        RejectReason::DuplicateId,
        RejectReason::InvalidPrice,
        RejectReason::InvalidQty,
        RejectReason::InsufficientFunds,
        RejectReason::InsufficientShares,
        RejectReason::LimitExceeded,
        RejectReason::TradingDisabled,
        RejectReason::PostOnlyWouldCross,
        RejectReason::Throttled,
        RejectReason::NotLoggedIn,
        RejectReason::UnsupportedVersion,
        RejectReason::UnknownMessageType,
        RejectReason::BadLength,
        RejectReason::BadCredentials,
        RejectReason::NotPrivileged,
        RejectReason::LoggedInElsewhere,
    ];

    /// The replay format's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::UnknownSymbol => "unknown_symbol",
            RejectReason::UnknownUser => "unknown_user",
            RejectReason::UnknownOrder => "unknown_order",
            RejectReason::DuplicateId => "duplicate_id",
            RejectReason::InvalidPrice => "invalid_price",
            RejectReason::InvalidQty => "invalid_qty",
            RejectReason::InsufficientFunds => "insufficient_funds",
            RejectReason::InsufficientShares => "insufficient_shares",
            RejectReason::LimitExceeded => "limit_exceeded",
            RejectReason::TradingDisabled => "trading_disabled",
            RejectReason::PostOnlyWouldCross => "post_only_would_cross",
            RejectReason::Throttled => "throttled",
            RejectReason::NotLoggedIn => "not_logged_in",
            RejectReason::UnsupportedVersion => "unsupported_version",
            RejectReason::UnknownMessageType => "unknown_message_type",
            RejectReason::BadLength => "bad_length",
            RejectReason::BadCredentials => "bad_credentials",
            RejectReason::NotPrivileged => "not_privileged",
            RejectReason::LoggedInElsewhere => "logged_in_elsewhere",
        }
    }

    /// The stable numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The reason with this code, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }
}

/// Why an order (or the rest of one) left the book or never rested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CancelReason {
    /// The owner canceled it.
    User = 1,
    /// IOC remainder.
    Ioc = 2,
    /// FOK that could not fill completely.
    Fok = 3,
    /// Market order remainder with nothing (affordable) left to take.
    MarketNoLiquidity = 4,
    /// Would have traded with the same user's resting order.
    SelfTrade = 5,
    /// A replace to a quantity at or below what was already filled.
    Replaced = 6,
    /// A DAY order at the end of the day.
    Expired = 7,
}

impl CancelReason {
    /// The replay format's name.
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::User => "user",
            CancelReason::Ioc => "ioc",
            CancelReason::Fok => "fok",
            CancelReason::MarketNoLiquidity => "market_no_liquidity",
            CancelReason::SelfTrade => "self_trade",
            CancelReason::Replaced => "replaced",
            CancelReason::Expired => "expired",
        }
    }
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// An order passed every check.
    Accepted {
        /// Owner.
        user: UserId,
        /// Client order id.
        id: ClientOrderId,
        /// Instrument.
        symbol: SymbolId,
        /// Side.
        side: Side,
        /// Limit price; `None` for market orders.
        price: Option<Price>,
        /// Quantity.
        qty: Qty,
    },
    /// A command was refused; nothing changed.
    Rejected {
        /// The user named by the command, if it named one.
        user: Option<UserId>,
        /// The order id named by the command, if it named one.
        id: Option<ClientOrderId>,
        /// Why.
        reason: RejectReason,
    },
    /// Two orders traded.
    Trade {
        /// Instrument.
        symbol: SymbolId,
        /// The resting order's price.
        price: Price,
        /// Quantity traded.
        qty: Qty,
        /// Resting order's owner.
        maker_user: UserId,
        /// Resting order's id.
        maker_id: ClientOrderId,
        /// What the resting order still has open.
        maker_leaves: Qty,
        /// Incoming order's owner.
        taker_user: UserId,
        /// Incoming order's id.
        taker_id: ClientOrderId,
        /// What the incoming order still has open.
        taker_leaves: Qty,
        /// The incoming order's side.
        taker_side: Side,
    },
    /// An order's open quantity left the book (or never rested).
    Canceled {
        /// Owner.
        user: UserId,
        /// Client order id.
        id: ClientOrderId,
        /// The quantity that was still open.
        qty: Qty,
        /// Why.
        reason: CancelReason,
    },
    /// An open order's price and quantity changed.
    Replaced {
        /// Owner.
        user: UserId,
        /// Old id.
        id: ClientOrderId,
        /// New id.
        new_id: ClientOrderId,
        /// New price.
        price: Price,
        /// New total quantity.
        qty: Qty,
    },
    /// An admin command took effect.
    Done {
        /// Which.
        op: AdminOp,
        /// The user it acted on, if any.
        user: Option<UserId>,
    },
}

/// An event with its global sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Rises by one from 1, across all events of the engine.
    pub seq: Seq,
    /// What happened.
    pub kind: EventKind,
}

/// Where the engine writes its events. Implemented for `Vec<Event>`; a ring buffer or a
/// counter can implement it too, so the engine never decides how events are stored.
pub trait EventSink {
    /// Takes one event.
    fn push(&mut self, event: Event);
}

impl EventSink for Vec<Event> {
    #[inline]
    fn push(&mut self, event: Event) {
        Vec::push(self, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_codes_are_stable_and_round_trip() {
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(usize::from(r.code()), i + 1);
            assert_eq!(RejectReason::from_code(r.code()), Some(*r));
        }
        assert_eq!(RejectReason::from_code(0), None);
        assert_eq!(
            RejectReason::from_code(19),
            Some(RejectReason::NotPrivileged)
        );
        assert_eq!(
            RejectReason::from_code(20),
            Some(RejectReason::LoggedInElsewhere)
        );
        assert_eq!(RejectReason::from_code(21), None);
        assert_eq!(RejectReason::InsufficientFunds.code(), 8);
    }
}
