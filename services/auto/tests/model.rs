//! The trigger index against the plainest possible model — every trigger in a list,
//! every mark moved and every condition checked on every trade — on random streams of
//! arms, cancels and trades over a few symbols: each trade fires exactly the same
//! triggers, and the same ones stay armed.

use std::collections::BTreeSet;

use bourse_auto::{Condition, Direction, Trigger, TriggerId, TriggerIndex};
use proptest::prelude::*;

/// The model's trigger: its condition and, for a trailing one, its mark (`None` until
/// its symbol trades).
struct Naive {
    id: TriggerId,
    t: Trigger,
    mark: Option<i64>,
}

#[derive(Default)]
struct Model {
    armed: Vec<Naive>,
    last: [Option<i64>; 3],
}

impl Model {
    fn arm(&mut self, id: TriggerId, t: Trigger) {
        let mark = self.last[t.symbol as usize];
        self.armed.push(Naive { id, t, mark });
    }

    fn cancel(&mut self, id: TriggerId) -> bool {
        let before = self.armed.len();
        self.armed.retain(|n| n.id != id);
        self.armed.len() != before
    }

    fn trade(&mut self, symbol: u32, price: i64) -> BTreeSet<TriggerId> {
        self.last[symbol as usize] = Some(price);
        let mut fired = BTreeSet::new();
        self.armed.retain_mut(|n| {
            if n.t.symbol != symbol {
                return true;
            }
            let falling = n.t.direction == Direction::Falling;
            let fires = match n.t.condition {
                Condition::Level(l) => {
                    if falling {
                        price <= l
                    } else {
                        price >= l
                    }
                }
                Condition::TrailAmount(_) | Condition::TrailPpm(_) => {
                    let mark = match n.mark {
                        None => price,
                        Some(m) if falling => m.max(price),
                        Some(m) => m.min(price),
                    };
                    n.mark = Some(mark);
                    let offset = match n.t.condition {
                        Condition::TrailAmount(a) => a,
                        Condition::TrailPpm(q) => (mark as i128 * q as i128 / 1_000_000) as i64,
                        Condition::Level(_) => 0,
                    };
                    if falling {
                        price <= mark - offset
                    } else {
                        price >= mark + offset
                    }
                }
            };
            if fires {
                fired.insert(n.id);
            }
            !fires
        });
        fired
    }
}

#[derive(Clone, Debug)]
enum Op {
    Arm(Trigger),
    Cancel(usize),
    Trade(u32, i64),
}

fn trigger() -> impl Strategy<Value = Trigger> {
    let condition = prop_oneof![
        (9_000i64..11_000).prop_map(Condition::Level),
        (1i64..600).prop_map(Condition::TrailAmount),
        (1u32..60_000).prop_map(Condition::TrailPpm),
    ];
    (
        0u32..3,
        prop_oneof![Just(Direction::Falling), Just(Direction::Rising)],
        condition,
    )
        .prop_map(|(symbol, direction, condition)| Trigger {
            symbol,
            direction,
            condition,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => trigger().prop_map(Op::Arm),
        1 => (0usize..64).prop_map(Op::Cancel),
        5 => (0u32..3, 9_000i64..11_000).prop_map(|(s, p)| Op::Trade(s, p)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_index_fires_what_checking_everything_fires(ops in prop::collection::vec(op(), 1..400)) {
        let mut ix = TriggerIndex::new();
        let mut model = Model::default();
        let mut next: TriggerId = 1;
        let mut fired = Vec::new();
        for op in ops {
            match op {
                Op::Arm(t) => {
                    ix.arm(next, t).unwrap();
                    model.arm(next, t);
                    next += 1;
                }
                Op::Cancel(n) => {
                    let id = (n as u64 % next.max(1)) + 1;
                    prop_assert_eq!(ix.cancel(id), model.cancel(id), "cancel {}", id);
                }
                Op::Trade(symbol, price) => {
                    fired.clear();
                    ix.on_trade(symbol, price, &mut fired);
                    let got: BTreeSet<TriggerId> = fired.iter().copied().collect();
                    prop_assert_eq!(got.len(), fired.len(), "each fires once");
                    prop_assert_eq!(got, model.trade(symbol, price), "trade {} @ {}", symbol, price);
                }
            }
            prop_assert_eq!(ix.len(), model.armed.len());
        }
    }
}
