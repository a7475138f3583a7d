//! Property tests: random command streams through the fast engine and the reference
//! twin, checked after every command: identical events and states; no crossed book at
//! rest; cash and shares conserved exactly; `0 <= reserved <= total` and reservations
//! equal to what resting orders hold; every resting order exactly what its events say
//! (accepted − traded, renamed by replaces, gone when canceled or filled); gapless
//! sequence numbers; and the same stream twice gives the same events.

use bourse_core::reference::ReferenceEngine;
use bourse_core::state::State;
use bourse_core::{
    Asset, Command, Engine, EngineConfig, Event, EventKind, FixedStr, LimitsUpdate, NewOrder,
    OrderType, Price, Qty, RejectReason, Side, SymbolId, TimeInForce, UserId,
};
use proptest::prelude::*;

/// The users: small ids, as the user service numbers them, and one far past the
/// engine's table of small ids, so that both ways of finding an account are exercised.
const USERS: [u64; 4] = [1, 2, 3, 1 << 40];

fn setup() -> Vec<Command> {
    let mut cmds = vec![
        Command::AddInstrument {
            symbol: FixedStr::new("ACME").unwrap(),
            tick: Price(1),
            lot: Qty(1),
        },
        Command::AddInstrument {
            symbol: FixedStr::new("BOLT").unwrap(),
            tick: Price(5),
            lot: Qty(10),
        },
    ];
    for u in USERS {
        cmds.push(Command::AddUser { user: UserId(u) });
        cmds.push(Command::Deposit {
            user: UserId(u),
            asset: Asset::Cash,
            amount: 50_000,
        });
        for s in 0..2 {
            cmds.push(Command::Deposit {
                user: UserId(u),
                asset: Asset::Shares(SymbolId(s)),
                amount: 200,
            });
        }
    }
    cmds
}

fn user() -> impl Strategy<Value = UserId> {
    prop_oneof![
        20 => prop::sample::select(&USERS[..]).prop_map(UserId),
        1 => Just(UserId(99)),
        1 => Just(UserId((1 << 40) + 1)),
    ]
}

fn id() -> impl Strategy<Value = FixedStr> {
    (0..6u8).prop_map(|i| FixedStr::new(&format!("o{i}")).unwrap())
}

fn symbol() -> impl Strategy<Value = SymbolId> {
    prop_oneof![10 => (0..2u32).prop_map(SymbolId), 1 => Just(SymbolId::UNKNOWN)]
}

fn price() -> impl Strategy<Value = Price> {
    prop_oneof![30 => (90..=110i64).prop_map(|p| Price(p / 5 * 5)), 3 => (88..=112i64).prop_map(Price), 1 => (-5..=0i64).prop_map(Price)]
}

/// Mostly [`price`]'s, and some thousands of ticks away: outside the engine's window of
/// directly indexed prices on either side, so that its levels outside it are exercised.
fn wide_price() -> impl Strategy<Value = Price> {
    prop_oneof![10 => price(), 2 => (1..=14i64).prop_map(|k| Price(k * 500))]
}

fn qty() -> impl Strategy<Value = Qty> {
    prop_oneof![30 => (1..=8i64).prop_map(|q| Qty(q * 10)), 3 => (1..=25i64).prop_map(Qty), 1 => (-5..=0i64).prop_map(Qty)]
}

fn tif() -> impl Strategy<Value = TimeInForce> {
    prop_oneof![
        6 => Just(TimeInForce::Gtc),
        2 => Just(TimeInForce::Day),
        2 => Just(TimeInForce::Ioc),
        2 => Just(TimeInForce::Fok)
    ]
}

fn new_order(price: BoxedStrategy<Price>) -> impl Strategy<Value = Command> {
    (
        user(),
        id(),
        symbol(),
        any::<bool>(),
        prop_oneof![8 => Just(OrderType::Limit), 1 => Just(OrderType::Market)],
        price,
        qty(),
        tif(),
        prop_oneof![8 => Just(false), 1 => Just(true)],
    )
        .prop_map(
            |(user, id, symbol, buy, order_type, price, qty, tif, post_only)| {
                Command::New(NewOrder {
                    user,
                    id,
                    symbol,
                    side: if buy { Side::Buy } else { Side::Sell },
                    order_type,
                    price,
                    qty,
                    tif,
                    post_only,
                })
            },
        )
}

fn command() -> impl Strategy<Value = Command> {
    command_priced(price().boxed())
}

fn command_priced(price: BoxedStrategy<Price>) -> impl Strategy<Value = Command> {
    prop_oneof![
        40 => new_order(price.clone()),
        8 => (user(), id()).prop_map(|(user, id)| Command::Cancel { user, id }),
        12 => (user(), id(), id(), price, qty()).prop_map(|(user, id, new_id, price, qty)| {
            Command::Replace { user, id, new_id, price, qty }
        }),
        2 => (user(), prop_oneof![Just(Asset::Cash), symbol().prop_map(Asset::Shares)], -10..5_000i64)
            .prop_map(|(user, asset, amount)| Command::Deposit { user, asset, amount }),
        2 => (user(), prop_oneof![Just(Asset::Cash), symbol().prop_map(Asset::Shares)], -10..5_000i64)
            .prop_map(|(user, asset, amount)| Command::Withdraw { user, asset, amount }),
        2 => (user(), proptest::option::of(0..60i64), proptest::option::of(0..6_000i64),
              proptest::option::of(0..6u32), proptest::option::weighted(0.3, any::<bool>()),
              proptest::option::weighted(0.3, any::<bool>()))
            .prop_map(|(user, q, n, o, t, s)| Command::SetLimits {
                user,
                limits: LimitsUpdate {
                    max_order_qty: q.map(Qty),
                    max_order_notional: n,
                    max_open_orders: o,
                    trading_enabled: t,
                    self_trade_prevention: s,
                },
            }),
        1 => Just(Command::EndOfDay),
        1 => Just(Command::Invalid { user: None, id: None, reason: RejectReason::Malformed }),
    ]
}

/// Checks the engine invariants on a state.
fn check_invariants(state: &State, cash_in: i64, shares_in: &[i64]) {
    // No crossed book at rest; priority order within each side.
    for b in &state.books {
        if let (Some(bid), Some(ask)) = (b.bids.first(), b.asks.first()) {
            assert!(
                bid.price < ask.price,
                "crossed book {:?}",
                b.instrument.symbol
            );
        }
        assert!(b.bids.windows(2).all(|w| w[0].price >= w[1].price));
        assert!(b.asks.windows(2).all(|w| w[0].price <= w[1].price));
        for o in b.bids.iter().chain(&b.asks) {
            assert!(o.open.0 > 0, "resting order with nothing open");
            assert_eq!(o.price.0 % b.instrument.tick, 0);
        }
    }
    // Conservation: cash and shares only move between users.
    assert_eq!(state.total_cash(), cash_in, "cash is conserved");
    for (b, &expected) in state.books.iter().zip(shares_in) {
        assert_eq!(
            state.total_shares(&b.instrument.symbol),
            expected,
            "shares are conserved"
        );
    }
    // Reservations: never negative, never above total, and exactly what resting orders hold.
    for a in &state.accounts {
        assert!(
            0 <= a.cash.reserved && a.cash.reserved <= a.cash.total,
            "{a:?}"
        );
        let held: i64 = state
            .books
            .iter()
            .flat_map(|b| b.bids.iter())
            .filter(|o| o.user == a.user)
            .map(|o| o.price.0 * o.open.0)
            .sum();
        assert_eq!(a.cash.reserved, held, "cash reservation of {:?}", a.user);
        for (sym, bal) in &a.holdings {
            assert!(0 <= bal.reserved && bal.reserved <= bal.total, "{a:?}");
            let held: i64 = state
                .books
                .iter()
                .filter(|b| b.instrument.symbol == *sym)
                .flat_map(|b| b.asks.iter())
                .filter(|o| o.user == a.user)
                .map(|o| o.open.0)
                .sum();
            assert_eq!(bal.reserved, held, "share reservation of {:?}", a.user);
        }
    }
}

/// Net deposits implied by a command that took effect.
fn apply_transfer(cmd: &Command, events: &[Event], cash_in: &mut i64, shares_in: &mut [i64]) {
    let ok = events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Done { .. }));
    if !ok {
        return;
    }
    let (asset, amount) = match *cmd {
        Command::Deposit { asset, amount, .. } => (asset, amount),
        Command::Withdraw { asset, amount, .. } => (asset, -amount),
        _ => return,
    };
    match asset {
        Asset::Cash => *cash_in += amount,
        Asset::Shares(s) => shares_in[s.0 as usize] += amount,
    }
}

/// Every order's state as its events tell it: (open, filled) by (user, id).
type Ledger = std::collections::BTreeMap<(UserId, bourse_core::ClientOrderId), (i64, i64)>;

/// Applies one event to the ledger, checking it against what the ledger already knows.
fn follow(ledger: &mut Ledger, e: &Event) {
    match e.kind {
        EventKind::Accepted { user, id, qty, .. } => {
            assert!(
                ledger.insert((user, id), (qty.0, 0)).is_none(),
                "accepted twice: {e:?}"
            );
        }
        EventKind::Trade {
            qty,
            maker_user,
            maker_id,
            maker_leaves,
            taker_user,
            taker_id,
            taker_leaves,
            ..
        } => {
            for (key, leaves) in [
                ((maker_user, maker_id), maker_leaves),
                ((taker_user, taker_id), taker_leaves),
            ] {
                let o = ledger
                    .get_mut(&key)
                    .expect("trade of an order the events never opened");
                o.0 -= qty.0;
                o.1 += qty.0;
                assert_eq!(o.0, leaves.0, "leaves reported by the trade: {e:?}");
                assert!(o.0 >= 0);
                if o.0 == 0 {
                    ledger.remove(&key);
                }
            }
        }
        EventKind::Canceled { user, id, qty, .. } => {
            let o = ledger
                .remove(&(user, id))
                .expect("cancel of an order the events never opened");
            assert_eq!(
                o.0, qty.0,
                "a cancel reports the quantity still open: {e:?}"
            );
        }
        EventKind::Replaced {
            user,
            id,
            new_id,
            qty,
            ..
        } => {
            let (_, filled) = ledger
                .remove(&(user, id))
                .expect("replace of an unknown order");
            assert!(qty.0 > filled, "{e:?}");
            ledger.insert((user, new_id), (qty.0 - filled, filled));
        }
        EventKind::Rejected { .. } | EventKind::Done { .. } => {}
    }
}

/// The resting orders of a state must be exactly the orders the events left open.
fn check_ledger(ledger: &Ledger, state: &State) {
    let resting: Ledger = state
        .books
        .iter()
        .flat_map(|b| b.bids.iter().chain(&b.asks))
        .map(|o| ((o.user, o.id), (o.open.0, o.filled.0)))
        .collect();
    assert_eq!(
        &resting, ledger,
        "resting orders differ from what the events say"
    );
}

fn run_both(cmds: &[Command]) -> Vec<Event> {
    let mut fast = Engine::new(EngineConfig::default());
    let mut naive = ReferenceEngine::new();
    let (mut cash_in, mut shares_in) = (0i64, vec![0i64; 2]);
    let mut all = Vec::new();
    let mut ledger = Ledger::new();
    for (i, cmd) in setup().iter().chain(cmds).enumerate() {
        let (mut ef, mut en) = (Vec::new(), Vec::new());
        fast.execute(cmd, &mut ef);
        naive.execute(cmd, &mut en);
        assert_eq!(ef, en, "events differ at command {i}: {cmd:?}");
        apply_transfer(cmd, &ef, &mut cash_in, &mut shares_in);
        let (sf, sn) = (fast.state(), naive.state());
        assert_eq!(sf, sn, "states differ after command {i}: {cmd:?}");
        assert_eq!(sf.hash(), sn.hash());
        check_invariants(&sf, cash_in, &shares_in);
        for e in &ef {
            follow(&mut ledger, e);
        }
        check_ledger(&ledger, &sf);
        all.extend(ef);
    }
    for w in all.windows(2) {
        assert_eq!(w[1].seq.0, w[0].seq.0 + 1, "sequence numbers are gapless");
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fast_engine_matches_reference_and_keeps_invariants(cmds in prop::collection::vec(command(), 1..250)) {
        let first = run_both(&cmds);
        // Determinism: the same stream gives the same events.
        let mut again = Engine::new(EngineConfig::default());
        let mut events = Vec::new();
        for cmd in setup().iter().chain(&cmds) {
            again.execute(cmd, &mut events);
        }
        prop_assert_eq!(first, events);
    }

    #[test]
    fn fast_engine_matches_reference_with_levels_far_apart(cmds in prop::collection::vec(command_priced(wide_price().boxed()), 1..250)) {
        run_both(&cmds);
    }

    #[test]
    fn snapshot_restore_continues_identically(cmds in prop::collection::vec(command(), 2..200), cut in 0usize..200) {
        let all: Vec<Command> = setup().into_iter().chain(cmds).collect();
        let cut = cut.min(all.len());
        let mut live = Engine::default();
        let mut sink = Vec::new();
        for c in &all[..cut] {
            live.execute(c, &mut sink);
        }
        let bytes = bourse_core::snapshot::encode(&live.state());
        let restored_state = bourse_core::snapshot::decode(&bytes).expect("snapshot decodes");
        prop_assert_eq!(&restored_state, &live.state());
        let mut restored = Engine::from_state(&restored_state, EngineConfig::default());
        prop_assert_eq!(restored.state().hash(), live.state().hash());
        for c in &all[cut..] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            live.execute(c, &mut a);
            restored.execute(c, &mut b);
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(restored.state(), live.state());
    }
}
