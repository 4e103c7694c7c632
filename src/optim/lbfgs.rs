//! L-BFGS: the standard two-loop recursion (Nocedal & Wright, Alg. 7.4) with initial Hessian
//! `H0 = (s^T y / y^T y) I`, and a backtracking Armijo line search (sufficient decrease
//! `c1 = 1e-4`, safeguarded quadratic interpolation, at most 20 trials).
//!
//! Choices that matter for style transfer (see `../shared/reference/authors-code.md`):
//! * the first step (and the first after a reset) has an RMS of [`Lbfgs::first_step_rms`]
//!   pixel units, since a unit step along a raw gradient means nothing;
//! * a curvature pair is kept when `s^T y > 1e-10 |s| |y|` (relative, not absolute);
//! * no gradient-size stopping rule (the pipeline stops on relative change);
//! * when the line search fails the memory is dropped and a scaled gradient step is tried;
//!   only if that fails too does the step report `stalled`.

use super::{dot, norm, Optimizer, Problem, StepOutcome};
use crate::Result;
use rayon::prelude::*;
use std::collections::VecDeque;

pub struct Lbfgs {
    history: usize,
    pairs: VecDeque<(Vec<f32>, Vec<f32>, f64)>,
    current: Option<(f64, Vec<f32>)>,
    /// RMS size, in pixel units, of the first step along the gradient.
    pub first_step_rms: f64,
}

const C1: f64 = 1e-4;
const MAX_TRIALS: usize = 20;

impl Lbfgs {
    pub fn new(history: usize) -> Self {
        Lbfgs {
            history: history.max(1),
            pairs: VecDeque::new(),
            current: None,
            first_step_rms: 4.0,
        }
    }

    /// `-H g` by the two-loop recursion.
    fn direction(&self, g: &[f32]) -> Vec<f32> {
        let mut q: Vec<f64> = g.iter().map(|&v| v as f64).collect();
        let mut alphas = Vec::with_capacity(self.pairs.len());
        // The updates are element-wise, so chunks on the workers give the same bits.
        let update = |q: &mut [f64], v: &[f32], k: f64| {
            q.par_chunks_mut(1 << 14)
                .zip(v.par_chunks(1 << 14))
                .for_each(|(q, v)| {
                    q.iter_mut()
                        .zip(v)
                        .for_each(|(qi, &vi)| *qi += k * vi as f64)
                });
        };
        for (s, y, rho) in self.pairs.iter().rev() {
            let a = rho * dot(s, &q);
            update(&mut q, y, -a);
            alphas.push(a);
        }
        if let Some((s, y, _)) = self.pairs.back() {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for ((s, y, rho), a) in self.pairs.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            update(&mut q, s, a - b);
        }
        q.iter().map(|&v| -v as f32).collect()
    }

    /// Backtracking line search from `x` along `d`; returns the accepted point.
    #[allow(clippy::type_complexity)]
    fn search(
        x: &[f32],
        f: f64,
        gtd: f64,
        d: &[f32],
        mut t: f64,
        problem: &mut dyn Problem,
        evals: &mut usize,
    ) -> Result<Option<(Vec<f32>, f64, Vec<f32>)>> {
        for _ in 0..MAX_TRIALS {
            let xn: Vec<f32> = x
                .iter()
                .zip(d)
                .map(|(&xi, &di)| xi + (t * di as f64) as f32)
                .collect();
            let (fn_, gn) = problem.evaluate(&xn)?;
            *evals += 1;
            if fn_.is_finite() && fn_ <= f + C1 * t * gtd {
                return Ok(Some((xn, fn_, gn)));
            }
            // Minimiser of the quadratic through f, f'(0) = gtd and f(t), kept in [0.1t, 0.5t].
            let tq = if fn_.is_finite() {
                -gtd * t * t / (2.0 * (fn_ - f - gtd * t))
            } else {
                0.1 * t
            };
            t = tq.clamp(0.1 * t, 0.5 * t);
        }
        Ok(None)
    }

    fn gradient_step(g: &[f32], rms: f64) -> (Vec<f32>, f64) {
        let gn = norm(g);
        let scale = if gn > 0.0 {
            rms * (g.len() as f64).sqrt() / gn
        } else {
            0.0
        };
        (g.iter().map(|&v| -v).collect(), scale)
    }
}

impl Optimizer for Lbfgs {
    fn name(&self) -> &'static str {
        "lbfgs"
    }

    fn step(&mut self, x: &mut [f32], problem: &mut dyn Problem) -> Result<StepOutcome> {
        let mut evals = 0;
        let changed = problem.begin_step();
        let (f, g) = match self.current.take() {
            Some(c) if !changed => c,
            _ => {
                evals += 1;
                problem.evaluate(x)?
            }
        };
        let mut note = None;
        let (mut d, mut t) = if self.pairs.is_empty() {
            Self::gradient_step(&g, self.first_step_rms)
        } else {
            (self.direction(&g), 1.0)
        };
        let mut gtd = dot(&g, &d);
        if gtd.is_nan() || gtd >= 0.0 {
            self.pairs.clear();
            (d, t) = Self::gradient_step(&g, self.first_step_rms);
            gtd = dot(&g, &d);
            note = Some("L-BFGS direction was not a descent direction; memory reset".to_string());
        }
        if gtd == 0.0 {
            self.current = Some((f, g));
            return Ok(StepOutcome {
                value: f,
                evaluations: evals,
                note: Some("zero gradient".into()),
                stalled: true,
            });
        }
        let mut found = Self::search(x, f, gtd, &d, t, problem, &mut evals)?;
        if found.is_none() && !self.pairs.is_empty() {
            self.pairs.clear();
            (d, t) = Self::gradient_step(&g, self.first_step_rms);
            gtd = dot(&g, &d);
            note = Some("L-BFGS line search failed; memory reset, gradient step taken".to_string());
            found = Self::search(x, f, gtd, &d, t, problem, &mut evals)?;
        }
        let Some((xn, fnew, gnew)) = found else {
            self.current = Some((f, g));
            return Ok(StepOutcome {
                value: f,
                evaluations: evals,
                note: Some("line search found no decrease".into()),
                stalled: true,
            });
        };
        let s: Vec<f32> = xn.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
        let y: Vec<f32> = gnew.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-10 * norm(&s) * norm(&y) {
            if self.pairs.len() == self.history {
                self.pairs.pop_front();
            }
            self.pairs.push_back((s, y, 1.0 / sy));
        }
        x.copy_from_slice(&xn);
        self.current = Some((fnew, gnew));
        Ok(StepOutcome {
            value: fnew,
            evaluations: evals,
            note,
            stalled: false,
        })
    }
}
