//! Criterion micro-benchmarks of single engine operations on a book of realistic depth
//! (exchange-core's shape: ~1,000 resting orders on ~700 levels, after 100,000 commands
//! of the workload): add, cancel, replace (a move to a new price), an IOC that matches
//! at the top level, and an IOC that sweeps ten levels.
//!
//! `cargo bench -p bourse-benches --bench book_ops`

use std::time::{Duration, Instant};

use bourse_benches::{CountingSink, prepared_engine};
use bourse_core::{
    ClientOrderId, Command, Engine, FixedStr, NewOrder, OrderType, Price, Qty, Side, SymbolId,
    TimeInForce, UserId,
};
use bourse_workload::{WorkloadConfig, generate};
use criterion::{Criterion, criterion_group, criterion_main};

const USER: UserId = UserId(7);

fn realistic_book() -> Engine {
    let w = generate(WorkloadConfig::single_symbol(100_000));
    let mut e = prepared_engine(&w);
    let mut sink = CountingSink::default();
    for c in &w.commands {
        e.execute(c, &mut sink);
    }
    e
}

fn id(n: u64) -> ClientOrderId {
    FixedStr::new(&format!("bench{n}")).unwrap_or_default()
}

fn order(n: u64, side: Side, price: i64, qty: i64, tif: TimeInForce) -> Command {
    order_in(SymbolId(0), USER, n, side, price, qty, tif)
}

fn order_in(
    symbol: SymbolId,
    user: UserId,
    n: u64,
    side: Side,
    price: i64,
    qty: i64,
    tif: TimeInForce,
) -> Command {
    Command::New(NewOrder {
        user,
        id: id(n),
        symbol,
        side,
        order_type: OrderType::Limit,
        price: Price(price),
        qty: Qty(qty),
        tif,
        post_only: false,
    })
}

/// Passive bid prices spread over the book like the workload's.
fn passive_price(n: u64) -> i64 {
    10_000 - 1 - ((n * 7919) % 600) as i64
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("book_ops");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    let mut e = realistic_book();
    let mut sink = CountingSink::default();
    let mut next = 0u64;

    // Adds and cancels run in chunks of 500 so the book stays at its realistic depth
    // (~1,000 orders) instead of growing by millions within one sample.
    const CHUNK: u64 = 500;
    g.bench_function("add_gtc_passive", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = CHUNK.min(iters - done);
                let first = next;
                let cmds: Vec<Command> = (0..n)
                    .map(|i| {
                        order(
                            first + i,
                            Side::Buy,
                            passive_price(first + i),
                            10,
                            TimeInForce::Gtc,
                        )
                    })
                    .collect();
                let t = Instant::now();
                for c in &cmds {
                    e.execute(c, &mut sink);
                }
                took += t.elapsed();
                for i in 0..n {
                    e.execute(
                        &Command::Cancel {
                            user: USER,
                            id: id(first + i),
                        },
                        &mut sink,
                    );
                }
                next += n;
                done += n;
            }
            took
        })
    });

    g.bench_function("cancel", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = CHUNK.min(iters - done);
                let first = next;
                for i in 0..n {
                    let k = first + i;
                    e.execute(
                        &order(k, Side::Buy, passive_price(k), 10, TimeInForce::Gtc),
                        &mut sink,
                    );
                }
                // Cancel in a scrambled order, not the order of entry.
                let cmds: Vec<Command> = (0..n)
                    .map(|i| Command::Cancel {
                        user: USER,
                        id: id(first + (i * 7) % n),
                    })
                    .collect();
                let t = Instant::now();
                for c in &cmds {
                    e.execute(c, &mut sink);
                }
                took += t.elapsed();
                next += n;
                done += n;
            }
            took
        })
    });

    g.bench_function("replace_move", |b| {
        b.iter_custom(|iters| {
            let first = next;
            e.execute(
                &order(first, Side::Buy, passive_price(first), 10, TimeInForce::Gtc),
                &mut sink,
            );
            let cmds: Vec<Command> = (0..iters)
                .map(|i| Command::Replace {
                    user: USER,
                    id: id(first + i),
                    new_id: id(first + i + 1),
                    price: Price(passive_price(first + i + 1)),
                    qty: Qty(10),
                })
                .collect();
            let t = Instant::now();
            for c in &cmds {
                e.execute(c, &mut sink);
            }
            let took = t.elapsed();
            e.execute(
                &Command::Cancel {
                    user: USER,
                    id: id(first + iters),
                },
                &mut sink,
            );
            next += iters + 1;
            took
        })
    });

    // The match benches use a second, empty instrument, where user 8 sells.
    let seller = UserId(8);
    let m = SymbolId(1);
    e.execute(
        &Command::AddInstrument {
            symbol: FixedStr::new("MATCH").unwrap_or_default(),
            tick: Price(1),
            lot: Qty(1),
        },
        &mut sink,
    );
    e.execute(
        &Command::Deposit {
            user: seller,
            asset: bourse_core::Asset::Shares(m),
            amount: 1_000_000_000_000,
        },
        &mut sink,
    );
    e.execute(
        &order_in(
            m,
            seller,
            0,
            Side::Sell,
            9_990,
            100_000_000,
            TimeInForce::Gtc,
        ),
        &mut sink,
    );
    g.bench_function("ioc_match_top_level", |b| {
        b.iter_custom(|iters| {
            let first = next;
            let cmds: Vec<Command> = (0..iters)
                .map(|i| order_in(m, USER, first + i, Side::Buy, 9_990, 1, TimeInForce::Ioc))
                .collect();
            let t = Instant::now();
            for c in &cmds {
                e.execute(c, &mut sink);
            }
            next += iters;
            t.elapsed()
        })
    });
    e.execute(
        &Command::Cancel {
            user: seller,
            id: id(0),
        },
        &mut sink,
    );

    g.bench_function("ioc_sweep_10_levels", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            let mut done = 0;
            // 50 sweeps at a time: 500 one-share asks on 500 levels (below the resting
            // 9,990 ask), then 50 IOC buys each taking the next ten levels.
            while done < iters {
                let n = 50.min(iters - done);
                let first = next;
                for i in 0..n * 10 {
                    let ask = order_in(
                        m,
                        seller,
                        first + i,
                        Side::Sell,
                        5_000 + i as i64,
                        1,
                        TimeInForce::Gtc,
                    );
                    e.execute(&ask, &mut sink);
                }
                let cmds: Vec<Command> = (0..n)
                    .map(|i| {
                        let price = 5_000 + (i * 10 + 9) as i64;
                        order_in(
                            m,
                            USER,
                            first + n * 10 + i,
                            Side::Buy,
                            price,
                            10,
                            TimeInForce::Ioc,
                        )
                    })
                    .collect();
                let t = Instant::now();
                for c in &cmds {
                    e.execute(c, &mut sink);
                }
                took += t.elapsed();
                next += n * 11;
                done += n;
            }
            took
        })
    });
    g.finish();
    assert!(sink.events > 0);
}

criterion_group!(benches, bench);
criterion_main!(benches);
