//! Service sessions: a session logged in with a service key acts for any user and runs
//! admin commands (the HTTP services' way into the engine: through the same journaled
//! pipeline as every order). What it sends becomes engine commands here; what the
//! engine answers comes back to it in `FOR` envelopes carrying its request number.
//!
//! Every command produces at least one event and its last event is marked, so each
//! request gets one or more envelopes, the last with `last` set. For a trade, the
//! service hears the side of the user it acted for (the taker); the resting side's
//! owner hears it on their own session as always.

use std::collections::HashMap;

use bourse_core::{Asset, CASH, Command, Event, EventKind, NewOrder, Symbol, SymbolId, UserId};

use crate::protocol::{EnterOrder, Liquidity, ServerMsg, ServiceMsg};

/// Where a command came from when a service session sent it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The service session's handle (0: not a service request).
    pub(crate) service: u32,
    /// The instrument an `add_instrument` created (set by the engine stage).
    pub(crate) symbol: Option<SymbolId>,
    /// The service's request number.
    pub(crate) request: u64,
    /// The user it acted for.
    pub(crate) user: UserId,
}

/// The engine command entering `order` for `user` (an unknown symbol becomes
/// `SymbolId::UNKNOWN`, which the engine refuses with `unknown_symbol`). Ordinary and
/// service sessions enter orders through it alike.
pub(crate) fn new_order(
    user: UserId,
    order: &EnterOrder,
    symbols: &HashMap<Symbol, SymbolId>,
) -> Command {
    Command::New(NewOrder {
        user,
        id: order.token,
        symbol: symbols
            .get(&order.symbol)
            .copied()
            .unwrap_or(SymbolId::UNKNOWN),
        side: order.side,
        order_type: order.order_type,
        price: order.price,
        qty: order.qty,
        tif: order.tif,
        post_only: order.post_only,
    })
}

/// The engine command a service request stands for; and the order to echo, if any.
pub(crate) fn command(
    m: &ServiceMsg,
    symbols: &HashMap<Symbol, SymbolId>,
) -> (Command, Option<EnterOrder>) {
    let symbol_id = |s: &Symbol| symbols.get(s).copied().unwrap_or(SymbolId::UNKNOWN);
    let asset = |a: &Symbol| {
        if a.as_str() == CASH {
            Asset::Cash
        } else {
            Asset::Shares(symbol_id(a))
        }
    };
    match *m {
        ServiceMsg::EnterFor { user, order, .. } => (new_order(user, &order, symbols), Some(order)),
        ServiceMsg::CancelFor { user, token, .. } => (Command::Cancel { user, id: token }, None),
        ServiceMsg::ReplaceFor {
            user,
            token,
            new_token,
            price,
            qty,
            ..
        } => (
            Command::Replace {
                user,
                id: token,
                new_id: new_token,
                price,
                qty,
            },
            None,
        ),
        ServiceMsg::AddUser { user, .. } => (Command::AddUser { user }, None),
        ServiceMsg::Deposit {
            user,
            asset: a,
            amount,
            ..
        } => (
            Command::Deposit {
                user,
                asset: asset(&a),
                amount,
            },
            None,
        ),
        ServiceMsg::Withdraw {
            user,
            asset: a,
            amount,
            ..
        } => (
            Command::Withdraw {
                user,
                asset: asset(&a),
                amount,
            },
            None,
        ),
        ServiceMsg::AddInstrument {
            symbol, tick, lot, ..
        } => (Command::AddInstrument { symbol, tick, lot }, None),
        ServiceMsg::EndOfDay { .. } => (Command::EndOfDay, None),
    }
}

/// The reports one engine event means, for the users it concerns: one, or for a trade
/// two (the resting side, then the incoming side). `user` is `None` for an event
/// about no user (an admin `done`, a rejection without a user): only the service that
/// sent the command hears of those. A service hears the last report of the event (the
/// incoming side of a trade: the user it acted for).
pub(crate) fn reports(
    event: &Event,
    order: Option<EnterOrder>,
) -> [Option<(Option<UserId>, ServerMsg)>; 2] {
    let seq = event.seq.0;
    let one = |user: Option<UserId>, msg| [Some((user, msg)), None];
    match event.kind {
        EventKind::Accepted {
            user,
            id,
            side,
            price,
            qty,
            ..
        } => one(
            Some(user),
            ServerMsg::Accepted {
                order: order.unwrap_or(EnterOrder {
                    token: id,
                    symbol: Symbol::default(),
                    side,
                    order_type: if price.is_some() {
                        bourse_core::OrderType::Limit
                    } else {
                        bourse_core::OrderType::Market
                    },
                    tif: bourse_core::TimeInForce::Gtc,
                    post_only: false,
                    price: price.unwrap_or_default(),
                    qty,
                }),
                seq,
            },
        ),
        EventKind::Rejected { user, id, reason } => one(
            user,
            ServerMsg::Rejected {
                token: id,
                reason,
                seq,
            },
        ),
        EventKind::Trade {
            price,
            qty,
            maker_user,
            maker_id,
            maker_leaves,
            taker_user,
            taker_id,
            taker_leaves,
            ..
        } => [
            Some((
                Some(maker_user),
                ServerMsg::Executed {
                    token: maker_id,
                    exec_id: seq,
                    price,
                    qty,
                    leaves: maker_leaves,
                    liquidity: Liquidity::Added,
                },
            )),
            Some((
                Some(taker_user),
                ServerMsg::Executed {
                    token: taker_id,
                    exec_id: seq,
                    price,
                    qty,
                    leaves: taker_leaves,
                    liquidity: Liquidity::Removed,
                },
            )),
        ],
        EventKind::Canceled {
            user,
            id,
            qty,
            reason,
        } => one(
            Some(user),
            ServerMsg::Canceled {
                token: id,
                qty,
                reason,
                seq,
            },
        ),
        EventKind::Replaced {
            user,
            id,
            new_id,
            price,
            qty,
        } => one(
            Some(user),
            ServerMsg::Replaced {
                token: id,
                new_token: new_id,
                price,
                qty,
                seq,
            },
        ),
        EventKind::Done { op, user } => one(
            None,
            ServerMsg::Done {
                op,
                user: user.map_or(0, |u| u.0),
                seq,
            },
        ),
    }
}
