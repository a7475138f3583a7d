//! Users → their accounts: a direct table for the small, dense ids that the user service
//! hands out, a hash map for any other.
//!
//! Every order command starts by finding its user's account, so this look-up is on every
//! command's path. User ids are assigned in sequence (the user service numbers them from
//! 1), so nearly all of them are small: for those the account is one load from a table
//! indexed by the id, with no hash, no probe and no key to compare. An id past
//! [`DENSE_LIMIT`] is kept in a hash map instead, so a sparse or random id costs a hash
//! probe as before and never grows the table.

use crate::hashing::{Map, map};
use crate::slab::NIL;
use crate::types::UserId;

/// Ids below this are found by direct index (4 MiB of table at most).
pub(crate) const DENSE_LIMIT: u64 = 1 << 20;

/// User id → account index.
#[derive(Clone, Debug)]
pub(crate) struct UserIndex {
    /// `dense[id]` is the account of user `id`, or [`NIL`].
    dense: Vec<u32>,
    /// Users whose id is at least [`DENSE_LIMIT`].
    sparse: Map<UserId, u32>,
}

impl UserIndex {
    /// An empty index with room for users numbered up to `capacity`.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let dense = capacity.min(DENSE_LIMIT as usize) + 1;
        UserIndex {
            dense: Vec::with_capacity(dense),
            sparse: map(0),
        }
    }

    /// The account of `user`.
    #[inline]
    pub(crate) fn get(&self, user: &UserId) -> Option<&u32> {
        if user.0 < DENSE_LIMIT {
            self.dense.get(user.0 as usize).filter(|&&a| a != NIL)
        } else {
            self.sparse.get(user)
        }
    }

    /// Whether `user` has an account.
    pub(crate) fn contains_key(&self, user: &UserId) -> bool {
        self.get(user).is_some()
    }

    /// Records `user`'s account, which the caller knows is not recorded yet.
    pub(crate) fn insert(&mut self, user: UserId, account: u32) {
        if user.0 < DENSE_LIMIT {
            let i = user.0 as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, NIL);
            }
            self.dense[i] = account;
        } else {
            self.sparse.insert(user, account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ids_by_table_large_ids_by_map_absent_ids_nowhere() {
        let mut users = UserIndex::with_capacity(4);
        assert_eq!(users.get(&UserId(0)), None, "an empty index knows no one");
        let ids = [1, 7, 3, 1_000, DENSE_LIMIT - 1, DENSE_LIMIT, u64::MAX];
        for (a, &id) in ids.iter().enumerate() {
            assert!(!users.contains_key(&UserId(id)));
            users.insert(UserId(id), a as u32);
        }
        for (a, &id) in ids.iter().enumerate() {
            assert_eq!(users.get(&UserId(id)), Some(&(a as u32)), "user {id}");
        }
        // Ids between the dense ones read as absent, not as account NIL or 0.
        for id in [0, 2, 4, 999, 1_001, DENSE_LIMIT + 1, u64::MAX - 1] {
            assert_eq!(users.get(&UserId(id)), None, "user {id}");
        }
        assert_eq!(
            users.sparse.len(),
            2,
            "only the ids past the limit are hashed"
        );
        assert_eq!(
            users.dense.len() as u64,
            DENSE_LIMIT,
            "the table ends at the limit"
        );
    }
}
