//! Commands: everything that can change the engine's state.
//!
//! Commands are `Copy` and fixed-size so that they travel through rings and the journal
//! without allocation. Instruments are referred to by [`SymbolId`]; shells resolve names
//! with [`crate::Engine::symbol_id`] and pass [`SymbolId::UNKNOWN`] for a name that does
//! not resolve, so the engine itself answers `unknown_symbol`.

use crate::types::{
    Amount, ClientOrderId, OrderType, Price, Qty, Side, Symbol, SymbolId, TimeInForce, UserId,
};

/// The name of cash wherever assets are named — the replay format, the engine's state,
/// bus message bodies and the database's `balances.asset` — beside the instruments'
/// symbols. No instrument may take it.
pub const CASH: &str = "USD";

/// What a deposit or withdrawal moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asset {
    /// Cash, in minor units (named [`CASH`]).
    Cash,
    /// Shares of an instrument.
    Shares(SymbolId),
}

/// A change to a user's trading conditions; `None` leaves a field as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LimitsUpdate {
    /// Largest quantity of one order.
    pub max_order_qty: Option<Qty>,
    /// Largest price × quantity of one order (for market orders, a cap on what it trades).
    pub max_order_notional: Option<Amount>,
    /// Largest number of orders resting at once.
    pub max_open_orders: Option<u32>,
    /// Whether the user may enter or replace orders (cancels are always allowed).
    pub trading_enabled: Option<bool>,
    /// Whether self-trade prevention applies to the user's incoming orders (on by default).
    pub self_trade_prevention: Option<bool>,
}

/// A new order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// Owner.
    pub user: UserId,
    /// Client order id, unique among the user's open orders.
    pub id: ClientOrderId,
    /// Instrument.
    pub symbol: SymbolId,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub order_type: OrderType,
    /// Limit price (ignored for market orders).
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Time in force.
    pub tif: TimeInForce,
    /// Refuse the order rather than let it take liquidity.
    pub post_only: bool,
}

/// A command to the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// List a new instrument.
    AddInstrument {
        /// Ticker.
        symbol: Symbol,
        /// Price increment.
        tick: Price,
        /// Quantity increment.
        lot: Qty,
    },
    /// Open an account.
    AddUser {
        /// The new user.
        user: UserId,
    },
    /// Credit cash or shares.
    Deposit {
        /// Whose account.
        user: UserId,
        /// What.
        asset: Asset,
        /// How much (> 0).
        amount: Amount,
    },
    /// Debit free cash or shares.
    Withdraw {
        /// Whose account.
        user: UserId,
        /// What.
        asset: Asset,
        /// How much (> 0, at most what is free).
        amount: Amount,
    },
    /// Change a user's trading conditions.
    SetLimits {
        /// Whose conditions.
        user: UserId,
        /// The fields to change.
        limits: LimitsUpdate,
    },
    /// Enter an order.
    New(NewOrder),
    /// Cancel an open order.
    Cancel {
        /// Owner.
        user: UserId,
        /// Client order id.
        id: ClientOrderId,
    },
    /// Change an open order's price and quantity.
    Replace {
        /// Owner.
        user: UserId,
        /// The open order.
        id: ClientOrderId,
        /// Its id from now on.
        new_id: ClientOrderId,
        /// New limit price.
        price: Price,
        /// New total quantity (including what is already filled).
        qty: Qty,
    },
    /// Expire every resting DAY order.
    EndOfDay,
    /// Input a shell could not decode (malformed JSON, a missing field). The engine
    /// answers with a rejection so that the decision, and its sequence number, is
    /// recorded like any other.
    Invalid {
        /// The user the input named, if it could be read.
        user: Option<UserId>,
        /// The order id the input named, if it could be read.
        id: Option<ClientOrderId>,
        /// Why it was refused.
        reason: crate::event::RejectReason,
    },
}

/// Which admin command a `done` event confirms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminOp {
    /// [`Command::AddInstrument`].
    AddInstrument,
    /// [`Command::AddUser`].
    AddUser,
    /// [`Command::Deposit`].
    Deposit,
    /// [`Command::Withdraw`].
    Withdraw,
    /// [`Command::SetLimits`].
    SetLimits,
    /// [`Command::EndOfDay`].
    EndOfDay,
}

impl AdminOp {
    /// The replay format's `op` name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminOp::AddInstrument => "add_instrument",
            AdminOp::AddUser => "add_user",
            AdminOp::Deposit => "deposit",
            AdminOp::Withdraw => "withdraw",
            AdminOp::SetLimits => "set_limits",
            AdminOp::EndOfDay => "end_of_day",
        }
    }
}

impl Command {
    /// The user a command acts for, if any.
    pub fn user(&self) -> Option<UserId> {
        match *self {
            Command::AddUser { user }
            | Command::Deposit { user, .. }
            | Command::Withdraw { user, .. }
            | Command::SetLimits { user, .. }
            | Command::Cancel { user, .. }
            | Command::Replace { user, .. } => Some(user),
            Command::New(o) => Some(o.user),
            Command::Invalid { user, .. } => user,
            Command::AddInstrument { .. } | Command::EndOfDay => None,
        }
    }

    /// The client order id a command names, if any.
    pub fn order_id(&self) -> Option<ClientOrderId> {
        match *self {
            Command::New(o) => Some(o.id),
            Command::Cancel { id, .. } | Command::Replace { id, .. } => Some(id),
            Command::Invalid { id, .. } => id,
            _ => None,
        }
    }
}
