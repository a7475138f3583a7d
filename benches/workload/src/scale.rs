//! A scale workload: many instruments, many users, many resting orders, to show what
//! the size of the engine's state costs per command.
//!
//! The setup places `resting` passive orders spread evenly over `symbols` books (bids
//! below the mid, asks above, so nothing trades). The measured stream picks a resting
//! order **uniformly at random** among all of them — the least cache-friendly choice —
//! and moves it to a new passive price (88%), or cancels it and enters a new passive
//! order in its place (6% + 6%, keeping the count constant). No shadow engine is needed:
//! nothing crosses, so every order the stream names is resting.

use bourse_core::{
    Asset, Command, FixedStr, NewOrder, OrderType, Price, Qty, Side, SymbolId, TimeInForce, UserId,
};

use crate::{Rng, Stats, Workload, WorkloadConfig, cid};

const SELLERS: u64 = 8;
const MID: i64 = 10_000;

struct Resting {
    user: UserId,
    id: u64,
    symbol: u32,
    side: Side,
}

fn passive(rng: &mut Rng, side: Side) -> i64 {
    let off = 1 + rng.below(500) as i64;
    match side {
        Side::Buy => MID - off,
        Side::Sell => MID + off,
    }
}

fn place(
    rng: &mut Rng,
    cfg: &WorkloadConfig,
    next_id: &mut u64,
    symbol: u32,
) -> (Resting, Command) {
    let side = if rng.below(2) == 0 {
        Side::Buy
    } else {
        Side::Sell
    };
    let user = match side {
        Side::Buy => UserId(1 + rng.below(cfg.users)),
        Side::Sell => UserId(1 + (u64::from(symbol) * SELLERS + rng.below(SELLERS)) % cfg.users),
    };
    *next_id += 1;
    let r = Resting {
        user,
        id: *next_id,
        symbol,
        side,
    };
    let cmd = Command::New(NewOrder {
        user,
        id: cid(*next_id),
        symbol: SymbolId(symbol),
        side,
        order_type: OrderType::Limit,
        price: Price(passive(rng, side)),
        qty: Qty(1 + rng.below(100) as i64),
        tif: TimeInForce::Gtc,
        post_only: false,
    });
    (r, cmd)
}

/// Generates a scale workload: `cfg.symbols` books with `cfg.target_orders` resting
/// orders each, `cfg.users` users, then `cfg.commands` commands.
pub fn generate_scale(cfg: WorkloadConfig) -> Workload {
    let mut rng = Rng::new(cfg.seed);
    let total = cfg.target_orders * cfg.symbols as usize;
    let mut setup = Vec::with_capacity(total + cfg.users as usize * 2);
    for s in 0..cfg.symbols {
        let symbol = FixedStr::new(&format!("S{s}")).unwrap_or_default();
        setup.push(Command::AddInstrument {
            symbol,
            tick: Price(1),
            lot: Qty(1),
        });
    }
    for u in 1..=cfg.users {
        setup.push(Command::AddUser { user: UserId(u) });
        setup.push(Command::Deposit {
            user: UserId(u),
            asset: Asset::Cash,
            amount: 1_000_000_000_000,
        });
    }
    for s in 0..cfg.symbols {
        for k in 0..SELLERS {
            let user = UserId(1 + (u64::from(s) * SELLERS + k) % cfg.users);
            setup.push(Command::Deposit {
                user,
                asset: Asset::Shares(SymbolId(s)),
                amount: 1_000_000_000_000,
            });
        }
    }
    let mut next_id = 0;
    let mut live = Vec::with_capacity(total);
    for i in 0..total {
        let (r, cmd) = place(
            &mut rng,
            &cfg,
            &mut next_id,
            (i % cfg.symbols as usize) as u32,
        );
        live.push(r);
        setup.push(cmd);
    }
    let mut stats = Stats::default();
    let mut commands = Vec::with_capacity(cfg.commands);
    while commands.len() < cfg.commands {
        let i = rng.below(live.len() as u64) as usize;
        let roll = rng.below(100);
        let r = &mut live[i];
        if roll < 88 {
            stats.moves += 1;
            next_id += 1;
            let price = passive(&mut rng, r.side);
            commands.push(Command::Replace {
                user: r.user,
                id: cid(r.id),
                new_id: cid(next_id),
                price: Price(price),
                qty: Qty(50),
            });
            r.id = next_id;
        } else {
            stats.cancels += 1;
            stats.gtc += 1;
            commands.push(Command::Cancel {
                user: r.user,
                id: cid(r.id),
            });
            let symbol = r.symbol;
            let (fresh, cmd) = place(&mut rng, &cfg, &mut next_id, symbol);
            // The replacement keeps the slot; the cancel above named the old order.
            live[i] = fresh;
            commands.push(cmd);
        }
    }
    commands.truncate(cfg.commands);
    stats.resting_at_end = live.len();
    stats.mean_resting = live.len() as f64;
    Workload {
        setup,
        commands,
        stats,
        config: cfg,
    }
}
