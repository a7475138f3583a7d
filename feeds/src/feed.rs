//! The feed: engine events in, market data messages out.
//!
//! Call [`Feed::on_event`] for each event and [`Feed::end_of_command`] after the last
//! event of each command (the gateway's output ring marks it); the messages for that
//! command are then in [`Feed::drain`]. Depth and top of book are computed by
//! comparing each touched instrument's top levels with what was last published, so a
//! subscriber that applies every `Depth` update to a `Snapshot` holds exactly the
//! engine's top [`DEPTH`] levels.

use bourse_core::{Event, EventKind, Side, State, Symbol, SymbolId};

use crate::candles::{BarUpdate, Candles};
use crate::levels::{Level, LevelBook};
use crate::message::{INTERVALS, MarketData};

/// Levels per side in depth messages.
pub const DEPTH: usize = 20;

/// What was last published for one instrument.
#[derive(Clone, Debug, Default)]
struct Published {
    bids: Vec<Level>,
    asks: Vec<Level>,
    seq: u64,
    touched: bool,
}

/// Market data state for every instrument.
#[derive(Debug)]
pub struct Feed {
    names: Vec<String>,
    levels: LevelBook,
    published: Vec<Published>,
    candles: Vec<Candles>,
    last_event: u64,
    out: Vec<MarketData>,
    bars: Vec<BarUpdate>,
}

impl Feed {
    /// A feed for instruments with these tickers (index = symbol id) and empty books.
    pub fn new(symbols: &[Symbol]) -> Self {
        Feed {
            names: symbols.iter().map(|s| s.as_str().to_string()).collect(),
            levels: LevelBook::new(),
            published: vec![Published::default(); symbols.len()],
            candles: vec![Candles::default(); symbols.len()],
            last_event: 0,
            out: Vec::new(),
            bars: Vec::new(),
        }
    }

    /// A feed that starts from an engine's state (after recovery): its instruments,
    /// and its books as already published (the first snapshots carry them).
    pub fn from_state(state: &State) -> Self {
        let symbols: Vec<Symbol> = state.books.iter().map(|b| b.instrument.symbol).collect();
        let mut feed = Feed::new(&symbols);
        feed.levels = LevelBook::from_state(state);
        feed.last_event = state.seq;
        for (i, p) in feed.published.iter_mut().enumerate() {
            if let Some(sides) = feed.levels.sides(SymbolId(i as u32)) {
                p.bids = sides.top_bids(DEPTH);
                p.asks = sides.top_asks(DEPTH);
            }
        }
        feed
    }

    /// Names instrument `id` (listed after the feed started): its market data is
    /// published under `symbol` from then on.
    pub fn name_instrument(&mut self, id: SymbolId, symbol: &Symbol) {
        let i = id.0 as usize;
        if self.names.len() <= i {
            self.names.resize_with(i + 1, String::new);
        }
        self.names[i] = symbol.as_str().to_string();
    }

    fn name(&self, symbol: SymbolId) -> String {
        match self.names.get(symbol.0 as usize) {
            Some(name) if !name.is_empty() => name.clone(),
            _ => format!("#{}", symbol.0),
        }
    }

    fn slot(&mut self, symbol: SymbolId) -> usize {
        let i = symbol.0 as usize;
        if self.published.len() <= i {
            self.published.resize_with(i + 1, Published::default);
            self.candles.resize_with(i + 1, Candles::default);
        }
        i
    }

    /// Takes one engine event; `now_ms` stamps trades and candles.
    pub fn on_event(&mut self, event: &Event, now_ms: u64) {
        self.last_event = event.seq.0;
        let Some(symbol) = self.levels.apply(event) else {
            return;
        };
        let i = self.slot(symbol);
        self.published[i].touched = true;
        if let EventKind::Trade {
            price,
            qty,
            taker_side,
            ..
        } = event.kind
        {
            self.out.push(MarketData::Trade {
                symbol: self.name(symbol),
                event_seq: event.seq.0,
                price: price.0,
                qty: qty.0,
                taker_side: match taker_side {
                    Side::Buy => "buy".into(),
                    Side::Sell => "sell".into(),
                },
                time_ms: now_ms,
            });
            self.candles[i].trade(price.0, qty.0, now_ms, &mut self.bars);
            self.push_bars(symbol);
        }
    }

    /// The command whose events came last is complete: publish what it changed.
    pub fn end_of_command(&mut self) {
        for i in 0..self.published.len() {
            if !std::mem::take(&mut self.published[i].touched) {
                continue;
            }
            let symbol = SymbolId(i as u32);
            let Some(sides) = self.levels.sides(symbol) else {
                continue;
            };
            let (bids, asks) = (sides.top_bids(DEPTH), sides.top_asks(DEPTH));
            let p = &self.published[i];
            let bid_changes = changes(&p.bids, &bids);
            let ask_changes = changes(&p.asks, &asks);
            let top_changed = p.bids.first() != bids.first() || p.asks.first() != asks.first();
            if bid_changes.is_empty() && ask_changes.is_empty() {
                continue;
            }
            let name = self.name(symbol);
            let p = &mut self.published[i];
            p.seq += 1;
            self.out.push(MarketData::Depth {
                symbol: name.clone(),
                seq: p.seq,
                bids: bid_changes,
                asks: ask_changes,
            });
            if top_changed {
                self.out.push(MarketData::Top {
                    symbol: name,
                    event_seq: self.last_event,
                    bid: bids.first().copied(),
                    ask: asks.first().copied(),
                });
            }
            p.bids = bids;
            p.asks = asks;
        }
        for i in 0..self.candles.len() {
            self.candles[i].take_changed(&mut self.bars);
            self.push_bars(SymbolId(i as u32));
        }
    }

    /// Closes the candles whose interval is over at `now_ms` (call now and then, so
    /// bars close even without trades).
    pub fn tick(&mut self, now_ms: u64) {
        for i in 0..self.candles.len() {
            self.candles[i].close_before(now_ms, &mut self.bars);
            self.push_bars(SymbolId(i as u32));
        }
    }

    fn push_bars(&mut self, symbol: SymbolId) {
        if self.bars.is_empty() {
            return;
        }
        let name = self.name(symbol);
        for (interval, bar, closed) in self.bars.drain(..) {
            self.out.push(MarketData::Candle {
                symbol: name.clone(),
                interval: INTERVALS[interval].0.to_string(),
                bar,
                closed,
            });
        }
    }

    /// A snapshot of every instrument's published depth (for late joiners).
    pub fn snapshots(&self) -> Vec<MarketData> {
        (0..self.published.len())
            .map(|i| {
                let p = &self.published[i];
                MarketData::Snapshot {
                    symbol: self.name(SymbolId(i as u32)),
                    seq: p.seq,
                    bids: p.bids.clone(),
                    asks: p.asks.clone(),
                }
            })
            .collect()
    }

    /// The messages produced so far, oldest first.
    pub fn drain(&mut self) -> std::vec::Drain<'_, MarketData> {
        self.out.drain(..)
    }

    /// The levels kept from the events.
    pub fn levels(&self) -> &LevelBook {
        &self.levels
    }
}

/// The levels of `new` that differ from `old`, plus those of `old` gone from `new` (as
/// quantity 0), ordered by their position in the respective list.
fn changes(old: &[Level], new: &[Level]) -> Vec<Level> {
    let mut out: Vec<Level> = new.iter().filter(|l| !old.contains(l)).copied().collect();
    out.extend(
        old.iter()
            .filter(|o| !new.iter().any(|n| n.price == o.price))
            .map(|o| Level {
                price: o.price,
                qty: 0,
            }),
    );
    out
}
