//! The pieces an objective is made of. A *term* is one loss at one *tap* — a network layer
//! or the image itself — with its layer weight `w_l`; a *group* is the terms that share one
//! balance coefficient: the content loss (alpha), one style method (gamma b_m beta'_m), or
//! an image-space regulariser such as total variation (its weight times its own beta').

use crate::loss::{ImageLoss, LayerLoss, Method};
use crate::vgg::Layer;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where a term reads the image being optimised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tap {
    /// The image itself (pixel space).
    Image,
    /// The ReLU output of a VGG-19 layer.
    Layer(Layer),
}

impl std::fmt::Display for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tap::Image => f.write_str("image"),
            Tap::Layer(l) => write!(f, "{l}"),
        }
    }
}

impl Serialize for Tap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One loss at one tap.
pub enum Term {
    /// A loss on one layer's features, weighted by `w_l`.
    Layer {
        layer: Layer,
        weight: f64,
        loss: Box<dyn LayerLoss>,
    },
    /// A loss on the image itself.
    Image { loss: Box<dyn ImageLoss> },
}

impl Term {
    pub fn tap(&self) -> Tap {
        match self {
            Term::Layer { layer, .. } => Tap::Layer(*layer),
            Term::Image { .. } => Tap::Image,
        }
    }

    /// `w_l` for a layer term; image terms weigh 1 inside their group.
    pub fn weight(&self) -> f64 {
        match self {
            Term::Layer { weight, .. } => *weight,
            Term::Image { .. } => 1.0,
        }
    }
}

/// What a group of terms stands for in Eq. 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The content loss, weighted by alpha.
    Content,
    /// One style method, weighted by gamma b_m beta'_m.
    Style(Method),
    /// An image-space regulariser (`tv`), weighted by its weight times its beta'.
    Regularizer(&'static str),
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Content => f.write_str("content"),
            Role::Style(m) => write!(f, "{m}"),
            Role::Regularizer(name) => f.write_str(name),
        }
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Terms that share one balance coefficient.
pub struct Group {
    pub role: Role,
    /// alpha for the content group, the blend weight b_m for a style method, the user's
    /// weight for a regulariser.
    pub weight: f64,
    /// beta' (1 for content; NaN until calibrated where the user gave none).
    pub beta_prime: f64,
    pub terms: Vec<Term>,
}

impl Group {
    /// Whether beta' is calibrated (style methods and regularisers) or fixed at 1 (content).
    pub fn is_balanced(&self) -> bool {
        self.role != Role::Content
    }

    /// This group's factor in the objective: alpha, gamma b_m beta'_m, or weight beta'.
    pub fn coefficient(&self, gamma: f64) -> f64 {
        match self.role {
            Role::Content => self.weight,
            Role::Style(_) => gamma * self.weight * self.beta_prime,
            Role::Regularizer(_) => self.weight * self.beta_prime,
        }
    }
}

/// Raw values of one group at one point: `sum_t w_t L_t` and each term's `L_t`.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupValue {
    pub role: Role,
    pub value: f64,
    pub terms: Vec<(Tap, f64)>,
}

/// Raw loss values at one point, per group, and the weighted total (unscaled).
/// Serialises as `{"content": L_c | null, "style": {"gram": L_m, "tv": L_r, ...},
/// "total": t, "terms": {"gram": {"relu1_1": L, ...}, ...}}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Breakdown {
    pub groups: Vec<GroupValue>,
    /// `alpha L_c + gamma sum_m b_m beta'_m L_m + sum_r w_r beta'_r L_r`.
    pub total: f64,
}

impl Breakdown {
    /// `L_content`, where the objective has a content term.
    pub fn content(&self) -> Option<f64> {
        self.groups
            .iter()
            .find(|g| g.role == Role::Content)
            .map(|g| g.value)
    }

    /// `sum_l w_l L_m^l` per style method.
    pub fn style(&self) -> Vec<(Method, f64)> {
        self.groups
            .iter()
            .filter_map(|g| match g.role {
                Role::Style(m) => Some((m, g.value)),
                _ => None,
            })
            .collect()
    }

    /// Every group but the content one, by name: the style methods and the regularisers.
    pub fn balanced(&self) -> Vec<(Role, f64)> {
        self.groups
            .iter()
            .filter(|g| g.role != Role::Content)
            .map(|g| (g.role, g.value))
            .collect()
    }
}

impl Serialize for Breakdown {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let by_role: BTreeMap<String, f64> = self
            .balanced()
            .into_iter()
            .map(|(r, v)| (r.to_string(), v))
            .collect();
        let terms: BTreeMap<String, BTreeMap<String, f64>> = self
            .groups
            .iter()
            .map(|g| {
                let per_tap = g.terms.iter().map(|(t, v)| (t.to_string(), *v)).collect();
                (g.role.to_string(), per_tap)
            })
            .collect();
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("content", &self.content())?;
        m.serialize_entry("style", &by_role)?;
        m.serialize_entry("total", &self.total)?;
        m.serialize_entry("terms", &terms)?;
        m.end()
    }
}
