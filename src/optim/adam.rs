//! Adam (Kingma & Ba, 2015) with a box constraint: after each step the image is projected
//! back into the valid pixel range.

use super::{Optimizer, Problem, StepOutcome};
use crate::Result;

pub struct Adam {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: i32,
    m: Vec<f64>,
    v: Vec<f64>,
    lower: Vec<f32>,
    upper: Vec<f32>,
}

impl Adam {
    /// `lr` in pixel units; `lower`/`upper` bound each value (per element, may be empty).
    pub fn new(lr: f64, lower: Vec<f32>, upper: Vec<f32>) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
            lower,
            upper,
        }
    }
}

impl Optimizer for Adam {
    fn name(&self) -> &'static str {
        "adam"
    }

    fn step(&mut self, x: &mut [f32], problem: &mut dyn Problem) -> Result<StepOutcome> {
        problem.begin_step();
        let (f, g) = problem.evaluate(x)?;
        if self.m.len() != x.len() {
            self.m = vec![0.0; x.len()];
            self.v = vec![0.0; x.len()];
            self.t = 0;
        }
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t);
        let bc2 = 1.0 - self.beta2.powi(self.t);
        for i in 0..x.len() {
            let gi = g[i] as f64;
            self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * gi;
            self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * gi * gi;
            let step = self.lr * (self.m[i] / bc1) / ((self.v[i] / bc2).sqrt() + self.eps);
            let mut xi = x[i] - step as f32;
            if !self.lower.is_empty() {
                xi = xi.clamp(self.lower[i], self.upper[i]);
            }
            x[i] = xi;
        }
        Ok(StepOutcome {
            value: f,
            evaluations: 1,
            note: None,
            stalled: !f.is_finite(),
        })
    }
}
