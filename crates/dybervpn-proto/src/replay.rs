//! The anti-replay window of a receiving session (RFC 6479, as in the Linux
//! kernel's `counter_validate` and wireguard-go's `replay` package).
//!
//! The window remembers the highest counter accepted and, for the
//! [`REPLAY_WINDOW`] counters below it, which ones were accepted. A counter
//! is accepted if it is below [`REJECT_AFTER_MESSAGES`] and either above the
//! highest so far, or within the window and not seen yet.
//!
//! The bits live in a ring of 64-bit words indexed by `counter / 64`. Moving
//! the window forward clears only the words it passes over, so an advance
//! costs at most one pass over the ring however far it jumps. One word of
//! the ring is given up (the window is the ring less 64 bits) so that the
//! word holding the highest counter never shares storage with the oldest
//! word still in the window.
//!
//! [`ReplayWindow::check`] is a read-only test, cheap enough to run before
//! authenticating a packet; [`ReplayWindow::update`] records a counter and
//! must run only after the packet authenticated, so a forged packet can
//! never move the window.

use crate::constants::REJECT_AFTER_MESSAGES;
use crate::tuning::{REPLAY_RING_BITS, REPLAY_WINDOW};

const WORD_BITS: u64 = 64;
const RING_WORDS: usize = REPLAY_RING_BITS / 64;

/// A sliding window of received counters; see the module documentation.
#[derive(Clone)]
pub struct ReplayWindow {
    /// The highest counter accepted (0 before any).
    highest: u64,
    /// Bit `c % 64` of word `(c / 64) % RING_WORDS` is set once `c` is
    /// accepted, for `c` within the window.
    ring: [u64; RING_WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayWindow")
            .field("highest", &self.highest)
            .finish_non_exhaustive()
    }
}

/// Where counter `c`'s bit lives: (word index in the ring, bit mask).
fn slot(counter: u64) -> (usize, u64) {
    // The remainder is below RING_WORDS, so the cast cannot truncate.
    let word = ((counter / WORD_BITS) % RING_WORDS as u64) as usize;
    (word, 1u64 << (counter % WORD_BITS))
}

impl ReplayWindow {
    /// An empty window: every counter below the limit is acceptable.
    #[must_use]
    pub fn new() -> Self {
        Self {
            highest: 0,
            ring: [0; RING_WORDS],
        }
    }

    /// The highest counter accepted so far (0 if none).
    #[must_use]
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Whether [`ReplayWindow::update`] would accept `counter`; changes
    /// nothing.
    #[must_use]
    pub fn check(&self, counter: u64) -> bool {
        if counter >= REJECT_AFTER_MESSAGES {
            return false;
        }
        if counter > self.highest {
            return true;
        }
        if self.highest - counter > REPLAY_WINDOW {
            return false;
        }
        let (word, mask) = slot(counter);
        self.ring.get(word).is_some_and(|w| w & mask == 0)
    }

    /// Accepts and records `counter`, returning whether it was acceptable.
    /// Call only once the packet carrying it has authenticated.
    #[must_use]
    pub fn update(&mut self, counter: u64) -> bool {
        if !self.check(counter) {
            return false;
        }
        if counter > self.highest {
            // Clear the words strictly after the current highest one, up to
            // and including the new highest one (at most the whole ring).
            let from = self.highest / WORD_BITS;
            let to = counter / WORD_BITS;
            let words = (to - from).min(RING_WORDS as u64);
            for i in 1..=words {
                let (word, _) = slot((from + i) * WORD_BITS);
                if let Some(w) = self.ring.get_mut(word) {
                    *w = 0;
                }
            }
            self.highest = counter;
        }
        let (word, mask) = slot(counter);
        match self.ring.get_mut(word) {
            Some(w) => {
                *w |= mask;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Runs `check` then `update` and asserts both give `expected`, that
    /// `check` did not change the window, and that a recorded counter is not
    /// acceptable again.
    fn t(w: &mut ReplayWindow, number: usize, n: u64, expected: bool) {
        let before = w.highest();
        assert_eq!(w.check(n), expected, "case {number}: check({n})");
        assert_eq!(w.highest(), before, "case {number}: check mutated");
        assert_eq!(w.update(n), expected, "case {number}: update({n})");
        assert!(!w.check(n), "case {number}: {n} acceptable twice");
    }

    /// The numbered cases of the kernel's `selftest/counter.c` and
    /// wireguard-go's `replay_test.go`, with the same numbers.
    #[test]
    fn kernel_and_wireguard_go_cases() {
        const T_LIM: u64 = REPLAY_WINDOW + 1;
        const R: u64 = REJECT_AFTER_MESSAGES;
        let cases: [(u64, bool); 34] = [
            (0, true),                        //  1
            (1, true),                        //  2
            (1, false),                       //  3
            (9, true),                        //  4
            (8, true),                        //  5
            (7, true),                        //  6
            (7, false),                       //  7
            (T_LIM, true),                    //  8
            (T_LIM - 1, true),                //  9
            (T_LIM - 1, false),               // 10
            (T_LIM - 2, true),                // 11
            (2, true),                        // 12
            (2, false),                       // 13
            (T_LIM + 16, true),               // 14
            (3, false),                       // 15
            (T_LIM + 16, false),              // 16
            (T_LIM * 4, true),                // 17
            (T_LIM * 4 - (T_LIM - 1), true),  // 18
            (10, false),                      // 19
            (T_LIM * 4 - T_LIM, false),       // 20
            (T_LIM * 4 - (T_LIM + 1), false), // 21
            (T_LIM * 4 - (T_LIM - 2), true),  // 22
            (T_LIM * 4 + 1 - T_LIM, false),   // 23
            (0, false),                       // 24
            (R, false),                       // 25
            (R - 1, true),                    // 26
            (R, false),                       // 27
            (R - 1, false),                   // 28
            (R - 2, true),                    // 29
            (R + 1, false),                   // 30
            (R + 2, false),                   // 31
            (R - 2, false),                   // 32
            (R - 3, true),                    // 33
            (0, false),                       // 34
        ];
        let mut w = ReplayWindow::new();
        for (i, (n, expected)) in cases.into_iter().enumerate() {
            let number = i + 1;
            assert_eq!(w.check(n), expected, "case {number}: check({n})");
            assert_eq!(w.update(n), expected, "case {number}: update({n})");
        }
    }

    /// The kernel's and wireguard-go's bulk tests 1 to 6.
    #[test]
    fn kernel_and_wireguard_go_bulk_cases() {
        let win = REPLAY_WINDOW;

        // 1: 1..=W ascending, then 0 is still inside the window.
        let mut w = ReplayWindow::new();
        for i in 1..=win {
            t(&mut w, 1, i, true);
        }
        t(&mut w, 1, 0, true);

        // 2: 2..=W+1 ascending, then 1 is the oldest in the window, 0 is out.
        let mut w = ReplayWindow::new();
        for i in 2..=win + 1 {
            t(&mut w, 2, i, true);
        }
        t(&mut w, 2, 1, true);
        assert!(!w.update(0), "bulk 2: 0 is behind the window");

        // 3: W+1 down to 1.
        let mut w = ReplayWindow::new();
        for i in (1..=win + 1).rev() {
            t(&mut w, 3, i, true);
        }

        // 4: W+2 down to 2, then 0 is out.
        let mut w = ReplayWindow::new();
        for i in (2..=win + 2).rev() {
            t(&mut w, 4, i, true);
        }
        assert!(!w.update(0), "bulk 4: 0 is behind the window");

        // 5: W down to 1, then W+1, then 0 is out.
        let mut w = ReplayWindow::new();
        for i in (1..=win).rev() {
            t(&mut w, 5, i, true);
        }
        t(&mut w, 5, win + 1, true);
        assert!(!w.update(0), "bulk 5: 0 is behind the window");

        // 6: W down to 1, then 0, then W+1.
        let mut w = ReplayWindow::new();
        for i in (1..=win).rev() {
            t(&mut w, 6, i, true);
        }
        t(&mut w, 6, 0, true);
        t(&mut w, 6, win + 1, true);
    }

    /// The obvious implementation: every accepted counter in a set.
    #[derive(Default)]
    struct Naive {
        highest: u64,
        seen: HashSet<u64>,
    }

    impl Naive {
        fn check(&self, n: u64) -> bool {
            n < REJECT_AFTER_MESSAGES
                && (n > self.highest
                    || (self.highest - n <= REPLAY_WINDOW && !self.seen.contains(&n)))
        }

        fn update(&mut self, n: u64) -> bool {
            if !self.check(n) {
                return false;
            }
            self.seen.insert(n);
            self.highest = self.highest.max(n);
            true
        }
    }

    /// xorshift64*, enough to generate test sequences reproducibly.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// The ring agrees with the naive set over many sequences mixing
    /// in-order delivery, reordering, duplicates, jumps of every size
    /// (within a word, across the ring, past the window) and counters near
    /// the limit.
    #[test]
    fn agrees_with_naive_reference() {
        for seed in 1..=300u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut fast = ReplayWindow::new();
            let mut naive = Naive::default();
            let mut recent: Vec<u64> = Vec::new();
            // Some sequences start close to the limit.
            let base = if seed % 10 == 0 {
                REJECT_AFTER_MESSAGES - 3 * REPLAY_RING_BITS as u64
            } else {
                0
            };
            let mut top = base;
            for step in 0..2_000 {
                let n = match rng.below(100) {
                    0..=39 => top.saturating_add(1 + rng.below(4)),
                    40..=64 => top.saturating_sub(rng.below(REPLAY_WINDOW + 200)),
                    65..=79 => recent
                        .get(rng.below(recent.len() as u64) as usize)
                        .copied()
                        .unwrap_or(top),
                    80..=89 => top.saturating_add(1 + rng.below(3 * REPLAY_RING_BITS as u64)),
                    90..=93 => top.saturating_add(REPLAY_WINDOW - 64 + rng.below(130)),
                    94..=96 => top.saturating_add(rng.below(1 << 20)),
                    97 => top.saturating_sub(REPLAY_WINDOW) + rng.below(3),
                    _ => REJECT_AFTER_MESSAGES - 2 + rng.below(4),
                };
                assert_eq!(
                    fast.check(n),
                    naive.check(n),
                    "seed {seed} step {step}: check({n}) after highest {}",
                    naive.highest
                );
                assert_eq!(
                    fast.update(n),
                    naive.update(n),
                    "seed {seed} step {step}: update({n})"
                );
                assert_eq!(fast.highest(), naive.highest);
                top = naive.highest.max(base);
                recent.push(n);
                if recent.len() > 64 {
                    recent.remove(0);
                }
            }
        }
    }

    #[test]
    fn a_jump_past_the_ring_forgets_everything_below_the_window() {
        let mut w = ReplayWindow::new();
        for i in 0..100 {
            assert!(w.update(i));
        }
        let far = 10 * REPLAY_RING_BITS as u64 + 5;
        assert!(w.update(far));
        // Counters in the window below `far` were never seen: acceptable.
        for c in far - REPLAY_WINDOW..far {
            assert!(w.check(c), "{c}");
        }
        assert!(!w.check(far - REPLAY_WINDOW - 1));
        assert!(!w.check(99));
    }
}
