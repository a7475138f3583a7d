//! The engine's hash maps: `std` maps (hashbrown) with FxHash.
//!
//! FxHash is one multiply per word, fast on the short keys used here (an `i64` price, a
//! sparse `u64` user id, an account + instrument pair) and deterministic, so nothing
//! about the engine depends on a random seed (and nothing observable depends on map
//! order anyway). foldhash was measured in its place (`PERF.md`): no difference beyond
//! this machine's noise, so the engine keeps the single, smaller dependency.
//!
//! Sizing matters more than the hasher: under insert/remove churn a full `hashbrown`
//! table collects deleted markers and then rehashes in place, an O(capacity) stall on
//! the order path. The maps that churn (order ids, price levels) are therefore kept at
//! low load; see `order_index` and `book::enqueue`. The resting orders' index is not one
//! of these maps: it is a table of order slots keyed by the orders themselves
//! (`order_index`).

use std::collections::HashMap;

/// A hash map with the engine's hasher.
pub(crate) type Map<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// An empty map with room for `capacity` entries.
pub(crate) fn map<K, V>(capacity: usize) -> Map<K, V> {
    HashMap::with_capacity_and_hasher(capacity, rustc_hash::FxBuildHasher)
}
