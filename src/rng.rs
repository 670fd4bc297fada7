//! A small seeded generator (PCG-XSH-RR 64/32) for parameter init, shuffling and test data.
//!
//! Why not the `rand` crate: trajectories must be bit-reproducible from a seed across
//! platforms, crate versions and wasm32, and the state must fit in a checkpoint as two
//! integers. A dozen lines of PCG give all three.

/// PCG-XSH-RR with 64-bit state and 32-bit output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcg {
    state: u64,
    inc: u64,
}

const MULT: u64 = 6364136223846793005;

impl Pcg {
    /// A generator for `seed` on stream `stream` (independent sequences for one seed).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Pcg {
            state: 0,
            inc: (stream << 1) | 1,
        };
        rng.next_u32();
        rng.state = rng.state.wrapping_add(seed);
        rng.next_u32();
        rng
    }

    /// The raw state, for checkpoints.
    pub fn state(&self) -> (u64, u64) {
        (self.state, self.inc)
    }

    /// Rebuild from [`Pcg::state`].
    pub fn from_state(state: u64, inc: u64) -> Self {
        Pcg {
            state,
            inc: inc | 1,
        }
    }

    /// Next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(MULT).wrapping_add(self.inc);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// Uniform in [0, 1) with 24 bits of resolution (exact in f32).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }

    /// Uniform integer in [0, n), without modulo bias.
    pub fn below(&mut self, n: u32) -> u32 {
        assert!(n > 0, "below(0)");
        let threshold = n.wrapping_neg() % n;
        loop {
            let r = self.next_u32();
            if r >= threshold {
                return r % n;
            }
        }
    }

    /// Standard normal by Box-Muller (one value per call; the pair's twin is dropped so that
    /// the state alone describes the generator).
    pub fn normal(&mut self) -> f32 {
        let u1 = ((self.next_u32() >> 8) as f64 + 1.0) / 16_777_217.0;
        let u2 = (self.next_u32() >> 8) as f64 / 16_777_216.0;
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u32 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// `n` values uniform in [lo, hi).
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let a: Vec<u32> = (0..8)
            .map({
                let mut r = Pcg::new(7, 1);
                move |_| r.next_u32()
            })
            .collect();
        let mut r = Pcg::new(7, 1);
        let b: Vec<u32> = (0..8).map(|_| r.next_u32()).collect();
        assert_eq!(a, b);
        let mut other = Pcg::new(8, 1);
        assert_ne!(
            a[0..4],
            (0..4).map(|_| other.next_u32()).collect::<Vec<_>>()[..]
        );
    }

    #[test]
    fn uniform_moments() {
        let mut r = Pcg::new(1, 0);
        let xs = r.vec(100_000, 0.0, 1.0);
        let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn normal_moments() {
        let mut r = Pcg::new(3, 0);
        let xs: Vec<f64> = (0..100_000).map(|_| r.normal() as f64).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / xs.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "mean {mean} var {var}"
        );
    }

    #[test]
    fn shuffle_is_permutation() {
        let mut r = Pcg::new(5, 0);
        let mut v: Vec<u32> = (0..1000).collect();
        r.shuffle(&mut v);
        assert_ne!(v, (0..1000).collect::<Vec<_>>());
        v.sort();
        assert_eq!(v, (0..1000).collect::<Vec<_>>());
    }
}
