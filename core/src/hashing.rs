//! The engine's hash maps: `std` maps with foldhash's fixed-seed hasher.
//!
//! foldhash is fast on the short keys used here (an `i64` price, a `u64` user, a
//! 20-byte account + client-order-id pair) and spreads them well, which keeps probe
//! sequences short and `hashbrown`'s deleted markers rare under insert/remove churn
//! (each in-place rehash is an O(capacity) stall on the order path). The seed is fixed,
//! so the engine stays deterministic; nothing observable depends on map order anyway.

use std::collections::HashMap;

/// A hash map with the engine's hasher.
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// An empty map with room for `capacity` entries.
pub(crate) fn map<K, V>(capacity: usize) -> Map<K, V> {
    HashMap::with_capacity_and_hasher(capacity, foldhash::fast::FixedState::default())
}

/// A map keyed by dense integers (user ids, account × symbol): FxHash, one multiply.
pub(crate) type IntMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// An empty integer-keyed map with room for `capacity` entries.
pub(crate) fn int_map<K, V>(capacity: usize) -> IntMap<K, V> {
    HashMap::with_capacity_and_hasher(capacity, rustc_hash::FxBuildHasher)
}
