//! The same command stream through other open-source Rust order books.
//!
//! Neither book has accounts, so risk checks, reservations and self-trade prevention
//! are Bourse's alone; the comparison is per command of the same stream, on the same
//! thread, in the same process run.
//!
//! - [`lobster`] 0.7: a minimal book (`BTreeMap` of price → `Vec` of arena indices).
//!   It has no IOC and no modify: IOC is a limit order followed by a cancel of whatever
//!   rested; a move is a cancel and a new limit order.
//! - [`orderbook_rs`] 0.15: a feature-rich, concurrent book (`&self` API, lock-free price
//!   levels). IOC is native; a move is `update_order(UpdatePrice)`.
//! - [`matchcore`] 0.4: a single-threaded, deterministic book (`BTreeMap` of levels, a
//!   slab of orders, an `FxHashMap` from id to order). Every command carries the next
//!   sequence number, and an order's id is its submit's (kept here in a dense `Vec`,
//!   the adapter's only work). IOC is native; a move is an amend of price and
//!   quantity, which keeps the id and, as in Bourse, loses time priority when the
//!   price changes (Bourse also loses it when the quantity grows; matchcore keeps it
//!   for a quantity-only change). Duplicates are refused (`OrderNotFound`), as in
//!   Bourse. It builds an outcome value per command (a `Vec` of triggered orders,
//!   empty, among it) where Bourse writes events into a preallocated sink.
//!
//! The stream is translated before timing ([`translate`]), so only the books' own work
//! is measured.

use std::collections::HashMap;

use bourse_core::{ClientOrderId, Command, OrderType, Side, TimeInForce, UserId};

/// A book operation in neutral terms: ids are dense `u64`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A limit order.
    Limit {
        /// Order id.
        id: u64,
        /// Buy?
        buy: bool,
        /// Price in ticks.
        price: u64,
        /// Quantity.
        qty: u64,
        /// Immediate or cancel.
        ioc: bool,
    },
    /// Cancel an order.
    Cancel {
        /// Order id.
        id: u64,
    },
    /// Move an order to a new price (the id stays).
    Move {
        /// Order id.
        id: u64,
        /// Buy side?
        buy: bool,
        /// New price.
        price: u64,
        /// Quantity.
        qty: u64,
    },
}

impl Op {
    /// The order the op names.
    pub fn id(&self) -> u64 {
        match *self {
            Op::Limit { id, .. } | Op::Cancel { id } | Op::Move { id, .. } => id,
        }
    }
}

/// The largest order id in `ops` (0 for none): what [`Matchcore::new`] makes room for.
pub fn max_id(ops: &[Op]) -> usize {
    ops.iter().map(Op::id).max().unwrap_or(0) as usize
}

/// Translates a workload's setup and measured commands into [`Op`]s (one id space, so
/// the stream can cancel and move orders the setup placed); admin commands are dropped.
pub fn translate(setup: &[Command], cmds: &[Command]) -> (Vec<Op>, Vec<Op>) {
    let mut ids = HashMap::new();
    let mut next = 0u64;
    let setup = translate_into(setup, &mut ids, &mut next);
    let cmds = translate_into(cmds, &mut ids, &mut next);
    (setup, cmds)
}

fn translate_into(
    cmds: &[Command],
    ids: &mut HashMap<(UserId, ClientOrderId), (u64, bool)>,
    next: &mut u64,
) -> Vec<Op> {
    let mut out = Vec::with_capacity(cmds.len());
    for c in cmds {
        match *c {
            Command::New(o) if o.order_type == OrderType::Limit => {
                *next += 1;
                let buy = o.side == Side::Buy;
                ids.insert((o.user, o.id), (*next, buy));
                out.push(Op::Limit {
                    id: *next,
                    buy,
                    price: o.price.0 as u64,
                    qty: o.qty.0 as u64,
                    ioc: o.tif == TimeInForce::Ioc,
                });
            }
            Command::Cancel { user, id } => {
                if let Some(&(id, _)) = ids.get(&(user, id)) {
                    out.push(Op::Cancel { id });
                }
            }
            Command::Replace {
                user,
                id,
                new_id,
                price,
                qty,
            } => {
                if let Some(&(n, buy)) = ids.get(&(user, id)) {
                    ids.insert((user, new_id), (n, buy));
                    out.push(Op::Move {
                        id: n,
                        buy,
                        price: price.0 as u64,
                        qty: qty.0 as u64,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// `lobster`'s book.
pub struct Lobster(pub lobster::OrderBook);

impl Lobster {
    /// A book with room for `orders`.
    pub fn new(orders: usize) -> Self {
        Lobster(lobster::OrderBook::new(orders, 16, false))
    }

    /// Applies one op; returns whether it traded (for a sanity check of the stream).
    #[inline]
    pub fn apply(&mut self, op: &Op) -> bool {
        use lobster::{OrderEvent, OrderType as L, Side as S};
        let side = |buy: bool| if buy { S::Bid } else { S::Ask };
        match *op {
            Op::Limit {
                id,
                buy,
                price,
                qty,
                ioc,
            } => {
                let ev = self.0.execute(L::Limit {
                    id: u128::from(id),
                    side: side(buy),
                    qty,
                    price,
                });
                let traded = matches!(
                    ev,
                    OrderEvent::PartiallyFilled { .. } | OrderEvent::Filled { .. }
                );
                let rested = matches!(
                    ev,
                    OrderEvent::Placed { .. } | OrderEvent::PartiallyFilled { .. }
                );
                if ioc && rested {
                    self.0.execute(L::Cancel { id: u128::from(id) });
                }
                traded
            }
            Op::Cancel { id } => {
                self.0.execute(L::Cancel { id: u128::from(id) });
                false
            }
            Op::Move {
                id,
                buy,
                price,
                qty,
            } => {
                self.0.execute(L::Cancel { id: u128::from(id) });
                let ev = self.0.execute(L::Limit {
                    id: u128::from(id),
                    side: side(buy),
                    qty,
                    price,
                });
                matches!(
                    ev,
                    OrderEvent::PartiallyFilled { .. } | OrderEvent::Filled { .. }
                )
            }
        }
    }
}

/// `matchcore`'s book.
pub struct Matchcore {
    book: matchcore::OrderBook,
    seq: u64,
    /// Matchcore's id (its submit's sequence number) of each dense id.
    ids: Vec<u64>,
}

impl Matchcore {
    /// An empty book, with room for dense ids below `ids`.
    pub fn new(ids: usize) -> Self {
        Matchcore {
            book: matchcore::OrderBook::new("BENCH"),
            seq: 0,
            ids: vec![u64::MAX; ids + 1],
        }
    }

    fn meta(&mut self) -> matchcore::CommandMeta {
        let m = matchcore::CommandMeta {
            sequence_number: matchcore::SequenceNumber(self.seq),
            timestamp: matchcore::Timestamp(self.seq),
        };
        self.seq += 1;
        m
    }

    /// Applies one op; returns whether matchcore applied it (rather than refused it).
    #[inline]
    pub fn apply(&mut self, op: &Op) -> bool {
        use matchcore::{
            AmendCmd, AmendPatch, CancelCmd, Command, CommandKind, CommandOutcome, LimitOrder,
            LimitOrderPatch, NewOrder, OrderFlags, OrderId, OrderKind, Price, Quantity,
            QuantityPolicy, Side as S, SubmitCmd, TimeInForce as T,
        };
        let kind = match *op {
            Op::Limit {
                id,
                buy,
                price,
                qty,
                ioc,
            } => {
                self.ids[id as usize] = self.seq;
                CommandKind::Submit(SubmitCmd {
                    order: NewOrder::Limit(LimitOrder::new(
                        Price(price),
                        QuantityPolicy::Standard {
                            quantity: Quantity(qty),
                        },
                        OrderFlags::new(
                            if buy { S::Buy } else { S::Sell },
                            false,
                            if ioc { T::Ioc } else { T::Gtc },
                        ),
                    )),
                })
            }
            Op::Cancel { id } => CommandKind::Cancel(CancelCmd {
                order_id: OrderId(self.ids[id as usize]),
                order_kind: OrderKind::Limit,
            }),
            Op::Move { id, price, qty, .. } => CommandKind::Amend(AmendCmd {
                order_id: OrderId(self.ids[id as usize]),
                patch: AmendPatch::Limit(
                    LimitOrderPatch::new()
                        .with_price(Price(price))
                        .with_quantity_policy(QuantityPolicy::Standard {
                            quantity: Quantity(qty),
                        }),
                ),
            }),
        };
        let meta = self.meta();
        matches!(
            self.book.execute(&Command { meta, kind }),
            CommandOutcome::Applied(_)
        )
    }
}

/// `orderbook-rs`'s book.
pub struct OrderbookRs(pub orderbook_rs::OrderBook<()>);

impl Default for OrderbookRs {
    fn default() -> Self {
        OrderbookRs(orderbook_rs::OrderBook::new("BENCH"))
    }
}

impl OrderbookRs {
    /// Applies one op. Errors (an order already gone, say) are part of the work measured
    /// and otherwise ignored, as a cancel of a filled order is in Bourse.
    #[inline]
    pub fn apply(&self, op: &Op) {
        use pricelevel::{Id, OrderUpdate, Price, Side as S, TimeInForce as T};
        let side = |buy: bool| if buy { S::Buy } else { S::Sell };
        match *op {
            Op::Limit {
                id,
                buy,
                price,
                qty,
                ioc,
            } => {
                let tif = if ioc { T::Ioc } else { T::Gtc };
                let _ = self.0.add_limit_order(
                    Id::from_u64(id),
                    u128::from(price),
                    qty,
                    side(buy),
                    tif,
                    None,
                );
            }
            Op::Cancel { id } => {
                let _ = self.0.cancel_order(Id::from_u64(id));
            }
            Op::Move { id, price, .. } => {
                let _ = self.0.update_order(OrderUpdate::UpdatePrice {
                    order_id: Id::from_u64(id),
                    new_price: Price::new(u128::from(price)),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bourse_workload::{WorkloadConfig, generate};

    #[test]
    fn translated_stream_trades_in_every_book() {
        let w = generate(WorkloadConfig::single_symbol(5_000));
        let (setup, ops) = translate(&w.setup, &w.commands);
        assert_eq!(
            ops.len(),
            w.commands.len(),
            "every command of the stream has an op"
        );
        let mut lob = Lobster::new(10_000);
        let orb = OrderbookRs::default();
        for op in &setup {
            lob.apply(op);
            orb.apply(op);
        }
        let lob_trades = ops.iter().filter(|op| lob.apply(op)).count();
        for op in &ops {
            orb.apply(op);
        }
        assert!(lob_trades > 50, "lobster saw {lob_trades} trading ops");
        assert!(lob.0.max_bid().is_some() && lob.0.min_ask().is_some());
        assert!(orb.0.best_bid().is_some() && orb.0.best_ask().is_some());
    }
}
