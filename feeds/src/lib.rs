//! # bourse-feeds
//!
//! Market data from the engine's events: top of book, depth (the top [`DEPTH`] levels
//! per side, as numbered incremental updates plus periodic snapshots so that a late
//! joiner can build the book), trades, and OHLCV candles (1s, 1m, 1h, 1d), published on
//! a ZeroMQ PUB socket with a topic per symbol and channel.
//!
//! Map of the crate:
//! - [`levels`]: the book by price level, kept from events alone.
//! - [`feed`]: events in, [`MarketData`] out, per command.
//! - [`candles`]: OHLCV bars per interval.
//! - [`message`]: the messages and their topics.
//! - [`replica`]: a subscriber's copy of the depth (snapshot + updates, gap detection).
//! - [`publisher`]: the ZeroMQ PUB socket and the in-process sink.
//! - [`subscriber`]: reading it back from a SUB socket.
//!
//! **Architecture invariant:** the feed runs off the engine thread, on the gateway's
//! output ring; it sees only what the engine published, never the engine's state.

pub mod candles;
pub mod feed;
pub mod levels;
pub mod message;
pub mod publisher;
pub mod replica;
pub mod subscriber;

pub use feed::{DEPTH, Feed};
pub use levels::{Level, LevelBook};
pub use message::MarketData;
pub use publisher::{MarketDataSink, ZmqPublisher};
pub use replica::DepthReplica;
