//! The feed against the engine: levels kept from events equal the engine's book after
//! every command, and a late joiner rebuilds the top 20 from a snapshot plus updates.

use std::collections::BTreeMap;

use bourse_core::{Engine, Event, Side, State, SymbolId};
use bourse_feeds::{DEPTH, DepthReplica, Feed, Level, MarketData};
use bourse_workload::{WorkloadConfig, generate};

/// The engine's levels per symbol: price → total open quantity, per side.
fn engine_levels(state: &State) -> Vec<(BTreeMap<i64, i64>, BTreeMap<i64, i64>)> {
    state
        .books
        .iter()
        .map(|b| {
            let sum = |orders: &[bourse_core::state::RestingOrder]| {
                let mut m = BTreeMap::new();
                for o in orders {
                    *m.entry(o.price.0).or_insert(0) += o.open.0;
                }
                m
            };
            (sum(&b.bids), sum(&b.asks))
        })
        .collect()
}

fn top(levels: &BTreeMap<i64, i64>, side: Side) -> Vec<Level> {
    let it = levels.iter().map(|(&price, &qty)| Level { price, qty });
    match side {
        Side::Buy => it.rev().take(DEPTH).collect(),
        Side::Sell => it.take(DEPTH).collect(),
    }
}

/// Runs a workload through an engine and a feed, checking levels after every command;
/// returns the engine and every message the feed produced, in order.
fn run(config: WorkloadConfig, check_every: usize) -> (Engine, Vec<MarketData>) {
    let w = generate(config);
    let mut engine = Engine::new(w.config.engine_config());
    let mut events: Vec<Event> = Vec::new();
    for cmd in &w.setup {
        engine.execute(cmd, &mut events);
    }
    let mut feed = Feed::from_state(&engine.state());
    let mut messages = Vec::new();
    for (n, cmd) in w.commands.iter().enumerate() {
        events.clear();
        engine.execute(cmd, &mut events);
        for e in &events {
            feed.on_event(e, 1_000_000 + n as u64);
        }
        feed.end_of_command();
        messages.extend(feed.drain());
        if n % check_every == 0 || n + 1 == w.commands.len() {
            let expected = engine_levels(&engine.state());
            for (i, (bids, asks)) in expected.iter().enumerate() {
                let got = feed
                    .levels()
                    .sides(SymbolId(i as u32))
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(&got.bids, bids, "bids of symbol {i} after command {n}");
                assert_eq!(&got.asks, asks, "asks of symbol {i} after command {n}");
            }
        }
    }
    (engine, messages)
}

#[test]
fn levels_from_events_equal_the_engine_after_every_command() {
    let (engine, messages) = run(WorkloadConfig::single_symbol(20_000), 1);
    assert!(engine.resting_orders() > 100, "a real book was built");
    let trades = messages
        .iter()
        .filter(|m| matches!(m, MarketData::Trade { .. }))
        .count();
    assert!(trades > 100, "the workload traded ({trades} trades)");
}

#[test]
fn levels_match_on_many_symbols() {
    let config = WorkloadConfig {
        symbols: 20,
        ..WorkloadConfig::multi_symbol(30_000)
    };
    run(config, 97);
}

#[test]
fn a_late_joiner_rebuilds_the_top_20_from_a_snapshot_and_updates() {
    let w = generate(WorkloadConfig::single_symbol(20_000));
    let mut engine = Engine::new(w.config.engine_config());
    let mut events = Vec::new();
    for cmd in &w.setup {
        engine.execute(cmd, &mut events);
    }
    let name = engine.instruments()[0].symbol.as_str().to_string();
    let mut feed = Feed::from_state(&engine.state());
    let mut joiner = DepthReplica::new(&name);
    for (n, cmd) in w.commands.iter().enumerate() {
        events.clear();
        engine.execute(cmd, &mut events);
        for e in &events {
            feed.on_event(e, n as u64);
        }
        feed.end_of_command();
        let msgs: Vec<MarketData> = feed.drain().collect();
        // The joiner subscribes at command 7,000: it sees updates from then on, and
        // a snapshot only at command 9,000 (as a periodic snapshot would arrive).
        if n >= 7_000 {
            for m in &msgs {
                joiner.on_message(m).expect("no gap");
            }
        }
        if n == 9_000 {
            for s in feed.snapshots() {
                joiner.on_message(&s).expect("snapshot applies");
            }
        }
        if n >= 9_000 && n % 500 == 0 {
            let levels = &engine_levels(&engine.state())[0];
            assert!(joiner.is_synced());
            assert_eq!(joiner.bids(), top(&levels.0, Side::Buy), "bids at {n}");
            assert_eq!(joiner.asks(), top(&levels.1, Side::Sell), "asks at {n}");
        }
    }
    let levels = &engine_levels(&engine.state())[0];
    assert_eq!(joiner.bids(), top(&levels.0, Side::Buy));
    assert_eq!(joiner.asks(), top(&levels.1, Side::Sell));
    assert!(joiner.bids().len() == DEPTH && joiner.asks().len() == DEPTH);
}

#[test]
fn a_lost_update_is_detected_as_a_gap() {
    let w = generate(WorkloadConfig::single_symbol(3_000));
    let mut engine = Engine::new(w.config.engine_config());
    let mut events = Vec::new();
    for cmd in &w.setup {
        engine.execute(cmd, &mut events);
    }
    let mut feed = Feed::from_state(&engine.state());
    let mut replica = DepthReplica::new(engine.instruments()[0].symbol.as_str());
    for s in feed.snapshots() {
        replica.on_message(&s).expect("empty snapshot");
    }
    let mut depth_seen = 0;
    let mut result = Ok(());
    for cmd in &w.commands {
        events.clear();
        engine.execute(cmd, &mut events);
        for e in &events {
            feed.on_event(e, 0);
        }
        feed.end_of_command();
        for m in feed.drain() {
            if matches!(m, MarketData::Depth { .. }) {
                depth_seen += 1;
                if depth_seen == 50 {
                    continue; // lost on the way
                }
            }
            if result.is_ok() {
                result = replica.on_message(&m);
            }
        }
    }
    assert!(
        matches!(
            result,
            Err(bourse_feeds::replica::ReplicaError::Gap { had: 49, got: 51 })
        ),
        "{result:?}"
    );
    assert!(!replica.is_synced());
}
