//! brnet-ipam: filling a /16, allocate+release churn, a hand-written u64
//! word-scan reference in the same run, and the memory of a /16 pool and of
//! an IPv6 /64 pool with 100,000 addresses allocated.
//!
//! Targets (issue 3): /16 fill under 2 ms and within 1.5x of the reference;
//! churn under 100 ns per pair at 50% fill; a /16 pool at most 8.5 KiB; a
//! /64 with 100,000 allocated under 1 MiB.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use brnet_ipam::{IpNet, Order, Pool};
use criterion::{BatchSize, Criterion, Throughput, criterion_group};

/// Addresses a /16 hands out: 65,536 less network, broadcast and gateway.
const SLASH16_HOSTS: usize = 65_533;

mod counting {
    //! A global allocator that counts live heap bytes, to weigh a pool.
    #![allow(unsafe_code)]

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub static LIVE: AtomicUsize = AtomicUsize::new(0);

    pub struct Counting;

    // SAFETY: every method forwards its arguments unchanged to `System`,
    // which upholds the `GlobalAlloc` contract; the counter is bookkeeping
    // only and never affects what is returned.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: same contract as ours, forwarded.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            }
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: same contract as ours, forwarded.
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from this allocator (so from `System`)
            // with `layout`, as our caller guarantees.
            unsafe { System.dealloc(ptr, layout) };
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: same contract as ours, forwarded.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                LIVE.fetch_add(new_size, Ordering::Relaxed);
                LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            }
            p
        }
    }
}

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

fn live_bytes() -> usize {
    counting::LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

fn slash16() -> IpNet {
    "172.20.0.0/16".parse().expect("valid subnet")
}

/// The reference: a plain `Vec<u64>` bitmap of a /16 with a serial cursor,
/// scanned a word at a time with `trailing_ones`, doing the same job as
/// `Pool::allocate` and nothing else: find the next free bit from the
/// cursor (wrapping), set it, move the cursor, return the address.
struct WordScan {
    words: Vec<u64>,
    len: usize,
    cursor: usize,
    base: u32,
}

impl WordScan {
    /// 172.20.0.0/16 with the network, gateway and broadcast bits set.
    fn slash16() -> WordScan {
        let mut w = WordScan {
            words: vec![0; 1024],
            len: 65_536,
            cursor: 2,
            base: u32::from(Ipv4Addr::new(172, 20, 0, 0)),
        };
        for bit in [0, 1, 65_535] {
            w.words[bit / 64] |= 1 << (bit % 64);
        }
        w
    }

    fn first_zero(&self, from: usize, to: usize) -> Option<usize> {
        let mut i = from / 64;
        let mut word = self.words[i] | ((1u64 << (from % 64)) - 1);
        loop {
            if word != u64::MAX {
                let bit = i * 64 + word.trailing_ones() as usize;
                return (bit < to).then_some(bit);
            }
            i += 1;
            if i * 64 >= to {
                return None;
            }
            word = self.words[i];
        }
    }

    /// The scan alone, without making an address: the lower bound.
    fn allocate_bit(&mut self) -> Option<usize> {
        let bit = self
            .first_zero(self.cursor, self.len)
            .or_else(|| self.first_zero(0, self.cursor))?;
        self.words[bit / 64] |= 1 << (bit % 64);
        self.cursor = if bit + 1 == self.len { 0 } else { bit + 1 };
        Some(bit)
    }

    fn allocate(&mut self) -> Option<IpAddr> {
        let bit = self
            .first_zero(self.cursor, self.len)
            .or_else(|| self.first_zero(0, self.cursor))?;
        self.words[bit / 64] |= 1 << (bit % 64);
        self.cursor = if bit + 1 == self.len { 0 } else { bit + 1 };
        Some(IpAddr::V4(Ipv4Addr::from(self.base + bit as u32)))
    }
}

/// A /16 pool at `fill` (0..=1) with a pseudo-random set of addresses free,
/// and the serial cursor somewhere in the middle.
fn filled(order: Order, fill: f64) -> Pool {
    let mut pool = Pool::builder(slash16())
        .order(order)
        .build()
        .expect("valid pool");
    let mut all: Vec<IpAddr> = (0..SLASH16_HOSTS)
        .map(|_| pool.allocate().expect("room"))
        .collect();
    // Fisher-Yates with a fixed LCG: the same free set every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..all.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = (state >> 33) as usize % (i + 1);
        all.swap(i, j);
    }
    let to_free = SLASH16_HOSTS - (SLASH16_HOSTS as f64 * fill) as usize;
    for addr in &all[..to_free] {
        pool.release(*addr).expect("allocated");
    }
    // Move the cursor off the wrap point.
    for _ in 0..to_free / 2 {
        let a = pool.allocate().expect("room");
        pool.release(a).expect("allocated");
    }
    pool
}

// The fills below all have the same shape: one call per allocation on a
// `&mut` allocator whose state lives in memory, as it does for a caller
// such as bridge-net. (A loop over a local the optimiser can keep in
// registers measures the harness, not the allocator.)

#[inline(never)]
fn fill_pool(pool: &mut Pool) {
    for _ in 0..SLASH16_HOSTS {
        black_box(pool.allocate().expect("room"));
    }
}

#[inline(never)]
fn fill_reference(w: &mut WordScan) {
    for _ in 0..SLASH16_HOSTS {
        black_box(w.allocate().expect("room"));
    }
}

#[inline(never)]
fn fill_reference_bits(w: &mut WordScan) {
    for _ in 0..SLASH16_HOSTS {
        black_box(w.allocate_bit().expect("room"));
    }
}

fn fill(c: &mut Criterion) {
    let mut g = c.benchmark_group("ipam/fill_slash16");
    g.throughput(Throughput::Elements(SLASH16_HOSTS as u64));
    for (name, order) in [
        ("pool_serial", Order::Serial),
        ("pool_lowest", Order::Lowest),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                || {
                    Pool::builder(slash16())
                        .order(order)
                        .build()
                        .expect("valid pool")
                },
                fill_pool,
                BatchSize::LargeInput,
            )
        });
    }
    g.bench_function("reference_word_scan", |b| {
        b.iter_batched_ref(WordScan::slash16, fill_reference, BatchSize::LargeInput)
    });
    g.bench_function("reference_word_scan_bits_only", |b| {
        b.iter_batched_ref(
            WordScan::slash16,
            fill_reference_bits,
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("ipam/churn_pair");
    for (name, order, fill_ratio) in [
        ("serial_50pct", Order::Serial, 0.50),
        ("serial_99pct", Order::Serial, 0.99),
        ("lowest_50pct", Order::Lowest, 0.50),
        ("lowest_99pct", Order::Lowest, 0.99),
    ] {
        let mut pool = filled(order, fill_ratio);
        g.bench_function(name, |b| {
            b.iter(|| {
                let a = pool.allocate().expect("room");
                pool.release(black_box(a)).expect("allocated");
            })
        });
    }
    g.finish();
}

/// Heap bytes a pool holds, plus its own size.
fn weigh<F: FnOnce() -> Pool>(make: F) -> (usize, Pool) {
    let before = live_bytes();
    let pool = make();
    let heap = live_bytes() - before;
    (heap + std::mem::size_of::<Pool>(), pool)
}

fn memory() {
    let (slash16_empty, p1) = weigh(|| Pool::new(slash16()).expect("valid pool"));
    let (slash16_full, p2) = weigh(|| {
        let mut p = Pool::new(slash16()).expect("valid pool");
        while p.allocate().is_ok() {}
        p
    });
    let (v6, p3) = weigh(|| {
        let mut p =
            Pool::new("fd00:1:2:3::/64".parse::<IpNet>().expect("valid")).expect("valid pool");
        for _ in 0..100_000 {
            p.allocate().expect("room");
        }
        p
    });
    println!(
        "ipam/memory: /16 pool empty {slash16_empty} B ({:.2} KiB), full {slash16_full} B ({:.2} KiB); \
         IPv6 /64 with 100,000 allocated {v6} B ({:.1} KiB); size_of::<Pool>() = {} B",
        slash16_empty as f64 / 1024.0,
        slash16_full as f64 / 1024.0,
        v6 as f64 / 1024.0,
        std::mem::size_of::<Pool>(),
    );
    assert_eq!(p2.free(), 0);
    assert_eq!(p3.used(), 100_001);
    drop((p1, p2, p3));
}

criterion_group!(benches, fill, churn);

fn main() {
    memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
