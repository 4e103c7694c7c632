//! The registry's per-method `balance` (`loss::registry`) as the beta' rule applies it
//! (`objective::calibrate`). Without a content term the rule sets `beta' = balance /
//! |grad L|` at the probe, so the total gradient there is `gamma * balance` long and the
//! optimiser's scale, which makes that gradient's RMS 1, is `sqrt(n) / (gamma * balance)`:
//! a closed form in which the method's own gradient cancels.

mod common;
use common::*;
use nstyle::loss::Method;
use nstyle::objective::{noise_image, Objective};
use nstyle::{CpuVgg19, Pooling, StyleConfig, StyleSpec};

#[test]
fn the_beta_prime_rule_applies_each_methods_balance() {
    let weights = bundled_weights();
    let mut net = CpuVgg19::new(&weights, Pooling::Average);
    let style = example_input("style/starry_night.jpg", 32);
    let (h, w) = (24, 32);
    let probe = noise_image(h, w, 0);
    let gamma = 3.0;
    let mut seen = Vec::new();
    for &m in Method::ALL {
        let cfg = StyleConfig {
            style: StyleSpec {
                terms: vec![(m, 1.0)],
            },
            style_weight: gamma,
            content_weight: 0.0,
            tv_weight: 0.0,
            seed: 1,
            ..StyleConfig::default()
        };
        let mut obj = Objective::new(&mut net, None, &style, h, w, &cfg).unwrap();
        obj.calibrate(&probe).unwrap();
        let balance = m.info().balance;
        let expected = ((3 * h * w) as f64).sqrt() / (gamma * balance);
        let got = obj.scale();
        assert!(
            (got / expected - 1.0).abs() < 1e-4,
            "{}: scale {got}, expected {expected} (balance {balance})",
            m.name()
        );
        seen.push(balance);
    }
    // Some methods carry a balance other than 1, so the check above can tell it apart.
    assert!(seen.iter().any(|b| *b != 1.0) && seen.contains(&1.0));
}
