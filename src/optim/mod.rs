//! Optimisers on the image: L-BFGS (default) and Adam.
//!
//! Both work in the network's input space (pixel units 0..255 minus the means) on an
//! objective that the pipeline scales so that its gradient at a noise image has an RMS of 1
//! per pixel value: a step of a few pixel units is then meaningful, which is what the
//! optimisers' step rules assume (see `docs/DESIGN.md`).

pub mod adam;
pub mod lbfgs;

pub use adam::Adam;
pub use lbfgs::Lbfgs;

use crate::Result;

/// The function being minimised.
pub trait Problem {
    /// Value (summed in f64) and gradient at `x`.
    fn evaluate(&mut self, x: &[f32]) -> Result<(f64, Vec<f32>)>;
    /// Called once at the start of every optimiser step; returns true if the function
    /// changed (a stochastic loss drew new samples), so cached values are stale.
    fn begin_step(&mut self) -> bool {
        false
    }
}

/// What one optimiser step did.
#[derive(Clone, Debug, Default)]
pub struct StepOutcome {
    /// Objective value at the new point (Adam: at the point the gradient was taken).
    pub value: f64,
    /// Function evaluations spent (each is one forward + backward pass).
    pub evaluations: usize,
    /// Something worth reporting (e.g. an L-BFGS memory reset).
    pub note: Option<String>,
    /// The step could not make progress; the run should stop.
    pub stalled: bool,
}

/// One optimiser, stepping the image in place.
pub trait Optimizer {
    fn step(&mut self, x: &mut [f32], problem: &mut dyn Problem) -> Result<StepOutcome>;
    fn name(&self) -> &'static str;
}

/// Which optimiser to use, with its main parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerKind {
    /// L-BFGS with `history` correction pairs.
    Lbfgs { history: usize },
    /// Adam with learning rate `lr` in pixel units.
    Adam { lr: f64 },
}

impl OptimizerKind {
    pub fn build(self, lower: Vec<f32>, upper: Vec<f32>) -> Box<dyn Optimizer> {
        match self {
            OptimizerKind::Lbfgs { history } => Box::new(Lbfgs::new(history)),
            OptimizerKind::Adam { lr } => Box::new(Adam::new(lr, lower, upper)),
        }
    }
}

/// Elements of a vector in f32 or f64, read as f64.
pub trait Real: Copy + Send + Sync {
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

/// Elements per parallel chunk of [`dot`].
const DOT_CHUNK: usize = 1 << 14;

/// `Σ a_i b_i` in f64. One serial chain of f64 additions is bound by the adder's latency
/// (an L-BFGS direction makes 40 such sums over every pixel: ~4% of an iteration at
/// 512 px), so fixed chunks are summed on the workers with 8 running sums each, and the
/// partial sums are added in chunk order: the result does not depend on scheduling.
pub fn dot<A: Real, B: Real>(a: &[A], b: &[B]) -> f64 {
    use rayon::prelude::*;
    assert_eq!(a.len(), b.len(), "dot: lengths");
    let partials: Vec<f64> = a
        .par_chunks(DOT_CHUNK)
        .zip(b.par_chunks(DOT_CHUNK))
        .map(|(a, b)| {
            let mut acc = [0.0f64; 8];
            let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
            let (ar, br) = (a8.remainder(), b8.remainder());
            for (x, y) in a8.zip(b8) {
                for l in 0..8 {
                    acc[l] += x[l].to_f64() * y[l].to_f64();
                }
            }
            for (l, (x, y)) in ar.iter().zip(br).enumerate() {
                acc[l] += x.to_f64() * y.to_f64();
            }
            acc.iter().sum::<f64>()
        })
        .collect();
    partials.iter().sum()
}

pub fn norm(a: &[f32]) -> f64 {
    dot(a, a).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_dot_equals_the_plain_sum_on_odd_lengths() {
        for n in [0, 1, 7, 9, DOT_CHUNK - 1, DOT_CHUNK + 13, 3 * DOT_CHUNK + 5] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
            let b: Vec<f64> = (0..n)
                .map(|i| ((i * 53) % 97) as f64 * 0.25 - 12.0)
                .collect();
            // Small integers and quarters: every product and partial sum is exact, so
            // any summation order must give the same value.
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * y).sum();
            assert_eq!(dot(&a, &b), want, "n = {n}");
            assert_eq!(
                dot(&a, &a),
                a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>()
            );
        }
    }
}
