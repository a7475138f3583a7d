//! Accounts: cash and per-instrument holdings, each split into total and reserved.
//!
//! A reservation is taken when an order is accepted (cash for buys, shares for sells) and
//! given back as the order fills or leaves the book. `free = total - reserved` is what new
//! orders and withdrawals may use; `0 <= reserved <= total` always holds.

use crate::command::LimitsUpdate;
use crate::types::{Amount, UserId};

/// A total and the part of it held by open orders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    /// Everything the user has.
    pub total: Amount,
    /// The part held by open orders.
    pub reserved: Amount,
}

impl Balance {
    /// What new orders and withdrawals may use.
    #[inline]
    pub fn free(&self) -> Amount {
        self.total - self.reserved
    }
}

/// A user's trading conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest quantity of one order.
    pub max_order_qty: Amount,
    /// Largest price × quantity of one order.
    pub max_order_notional: Amount,
    /// Largest number of resting orders.
    pub max_open_orders: u32,
    /// Whether orders may be entered or replaced.
    pub trading_enabled: bool,
    /// Whether the user's incoming orders are stopped before trading with their own.
    pub self_trade_prevention: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_order_qty: Amount::MAX,
            max_order_notional: Amount::MAX,
            max_open_orders: u32::MAX,
            trading_enabled: true,
            self_trade_prevention: true,
        }
    }
}

impl Limits {
    /// Applies the fields an update sets.
    pub fn apply(&mut self, u: &LimitsUpdate) {
        if let Some(q) = u.max_order_qty {
            self.max_order_qty = q.0;
        }
        if let Some(n) = u.max_order_notional {
            self.max_order_notional = n;
        }
        if let Some(n) = u.max_open_orders {
            self.max_open_orders = n;
        }
        if let Some(b) = u.trading_enabled {
            self.trading_enabled = b;
        }
        if let Some(b) = u.self_trade_prevention {
            self.self_trade_prevention = b;
        }
    }
}

/// One user's account.
#[derive(Clone, Debug)]
pub(crate) struct Account {
    pub(crate) user: UserId,
    pub(crate) cash: Balance,
    pub(crate) limits: Limits,
    pub(crate) open_orders: u32,
    /// The position last used, as (instrument, position index), or `(NIL, NIL)`: most
    /// users trade one instrument again and again, and this skips the position hash.
    /// Positions are never removed, so it cannot go stale.
    pub(crate) recent: (u32, u32),
}

/// One user's holding of one instrument.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Position {
    pub(crate) account: u32,
    pub(crate) symbol: u32,
    pub(crate) shares: Balance,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Qty;

    #[test]
    fn limits_update_changes_only_given_fields() {
        let mut l = Limits::default();
        l.apply(&LimitsUpdate {
            max_order_qty: Some(Qty(10)),
            trading_enabled: Some(false),
            ..LimitsUpdate::default()
        });
        assert_eq!(l.max_order_qty, 10);
        assert!(!l.trading_enabled);
        assert_eq!(l.max_open_orders, u32::MAX);
        assert!(l.self_trade_prevention);
        let b = Balance {
            total: 10,
            reserved: 4,
        };
        assert_eq!(b.free(), 6);
    }
}
