//! A preallocated slab: values addressed by `u32` index, freed slots reused LIFO.
//!
//! Allocation happens only when the slab outgrows the capacity it was created with
//! (amortised doubling, as `Vec`); in steady state insert and remove are O(1) and
//! allocation-free.

/// Index meaning "none" in intrusive links.
pub(crate) const NIL: u32 = u32::MAX;

/// A slab of `T` addressed by `u32`.
#[derive(Clone, Debug)]
pub(crate) struct Slab<T> {
    items: Vec<T>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    /// An empty slab with room for `capacity` values before it allocates.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Slab {
            items: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
        }
    }

    /// Stores `value` and returns its index.
    #[inline]
    pub(crate) fn insert(&mut self, value: T) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = value;
                i
            }
            None => {
                let i = self.items.len() as u32;
                self.items.push(value);
                i
            }
        }
    }

    /// Frees slot `i`. The value stays in place until the slot is reused; callers must
    /// not read it afterwards.
    #[inline]
    pub(crate) fn remove(&mut self, i: u32) {
        debug_assert!((i as usize) < self.items.len());
        self.free.push(i);
    }

    /// Number of values in use.
    pub(crate) fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }
}

impl<T> std::ops::Index<u32> for Slab<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: u32) -> &T {
        &self.items[i as usize]
    }
}

impl<T> std::ops::IndexMut<u32> for Slab<T> {
    #[inline]
    fn index_mut(&mut self, i: u32) -> &mut T {
        &mut self.items[i as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_freed_slots() {
        let mut s = Slab::with_capacity(2);
        let a = s.insert(10);
        let b = s.insert(20);
        assert_eq!((a, b), (0, 1));
        s.remove(a);
        assert_eq!(s.len(), 1);
        let c = s.insert(30);
        assert_eq!(c, a, "freed slot is reused");
        assert_eq!(s[c], 30);
        assert_eq!(s[b], 20);
        assert_eq!(s.len(), 2);
    }
}
