//! Hot-path discipline, checked: once warmed up, the engine runs the exchange-core
//! workload without a single heap allocation (a counting global allocator says so).
//!
//! Warm-up matters: a book's vectors and maps grow by amortised doubling until they
//! reach the high-water mark of the prices and orders it has seen (two growths of the
//! price index happen between commands 100,000 and 200,000 of this stream). After that,
//! nothing on the order path allocates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use bourse_benches::{CountingSink, prepared_engine};
use bourse_workload::{WorkloadConfig, generate};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_engine_never_allocates() {
    let w = generate(WorkloadConfig::single_symbol(500_000));
    let mut engine = prepared_engine(&w);
    let mut sink = CountingSink::default();
    let (warm, measured) = w.commands.split_at(300_000);
    for c in warm {
        engine.execute(c, &mut sink);
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    let events_before = sink.events;
    for c in measured {
        engine.execute(c, &mut sink);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert!(
        sink.events - events_before > 200_000,
        "the stream did real work"
    );
    assert_eq!(
        allocs, 0,
        "{allocs} allocations in 200,000 commands of steady state"
    );
}
