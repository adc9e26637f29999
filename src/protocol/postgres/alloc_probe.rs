//! Test-only global allocator that records the largest single allocation the current thread makes while a probe
//! is armed, so property tests can show that a hostile length field is refused rather than allocated.
//!
//! It forwards everything to the system allocator and keeps its state in const thread-locals (no allocation, no
//! destructor), so it is safe to use from inside the allocator. It is compiled only into the unit-test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

struct Probe;

fn note(size: usize) {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            PEAK.with(|peak| peak.set(peak.get().max(size)));
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the probe only reads thread-local counters.
unsafe impl GlobalAlloc for Probe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Probe = Probe;

/// Runs `f` and returns its result with the largest single allocation (in bytes) it made on this thread.
pub(crate) fn peak_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    PEAK.with(|peak| peak.set(0));
    ARMED.with(|armed| armed.set(true));
    let result = f();
    ARMED.with(|armed| armed.set(false));
    (result, PEAK.with(Cell::get))
}

#[cfg(test)]
mod tests {
    use super::peak_allocation;

    #[test]
    fn probe_sees_allocations_of_this_thread_only_while_armed() {
        let (v, peak) = peak_allocation(|| vec![0u8; 1 << 20]);
        assert_eq!(v.len(), 1 << 20);
        assert!(peak >= 1 << 20, "peak {peak}");
        let ((), peak) = peak_allocation(|| ());
        assert_eq!(peak, 0);
    }
}
