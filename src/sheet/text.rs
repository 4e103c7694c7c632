//! Text on a sheet: the bundled font (a subset of DejaVu Sans, assets/DejaVuSans-LICENSE.txt),
//! measuring, wrapping and drawing one line at a time with `ab_glyph`.

use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};
use image::RgbImage;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-subset.ttf");

/// The sheet's font at one size.
pub struct Pen {
    font: FontRef<'static>,
    scale: PxScale,
}

impl Pen {
    /// The bundled font at `px` pixels per em.
    pub fn new(px: f32) -> Pen {
        // The bundled file is fixed at build time and parsed by a test.
        let font = FontRef::try_from_slice(FONT).expect("the bundled font parses");
        Pen {
            font,
            scale: PxScale::from(px),
        }
    }

    /// Distance from one baseline to the next, in whole pixels.
    pub fn line_height(&self) -> u32 {
        let s = self.font.as_scaled(self.scale);
        (s.height() + s.line_gap()).ceil() as u32
    }

    /// Characters the font lacks are drawn as '?'.
    fn glyph(&self, c: char) -> GlyphId {
        match self.font.glyph_id(c) {
            GlyphId(0) => self.font.glyph_id('?'),
            id => id,
        }
    }

    /// The advance width of one line, in pixels.
    pub fn width(&self, line: &str) -> u32 {
        let s = self.font.as_scaled(self.scale);
        let mut w = 0.0f32;
        let mut prev: Option<GlyphId> = None;
        for c in line.chars() {
            let id = self.glyph(c);
            if let Some(p) = prev {
                w += s.kern(p, id);
            }
            w += s.h_advance(id);
            prev = Some(id);
        }
        w.ceil() as u32
    }

    /// Draws one line with its top at `y` (the line box, not the ink) and its left edge at
    /// `x`, blending `color` over the image by coverage; clipped to the image.
    pub fn draw(&self, img: &mut RgbImage, line: &str, x: i32, y: i32, color: [u8; 3]) {
        let s = self.font.as_scaled(self.scale);
        let baseline = y as f32 + s.ascent();
        let mut caret = x as f32;
        let mut prev: Option<GlyphId> = None;
        for c in line.chars() {
            let id = self.glyph(c);
            if let Some(p) = prev {
                caret += s.kern(p, id);
            }
            let glyph = id.with_scale_and_position(self.scale, point(caret, baseline));
            caret += s.h_advance(id);
            prev = Some(id);
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue;
            };
            let b = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let (px, py) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
                if px < 0 || py < 0 || px >= img.width() as i64 || py >= img.height() as i64 {
                    return;
                }
                let a = coverage.clamp(0.0, 1.0);
                let p = img.get_pixel_mut(px as u32, py as u32);
                for (v, c) in p.0.iter_mut().zip(color) {
                    *v = (*v as f32 * (1.0 - a) + c as f32 * a).round() as u8;
                }
            });
        }
    }

    /// Breaks `text` into lines no wider than `max_width` where it can: at explicit
    /// newlines, after spaces, commas, semicolons and slashes. A piece with no such break
    /// that is still too wide stays whole (see [`Pen::widest_piece`]).
    pub fn wrap(&self, text: &str, max_width: u32) -> Vec<String> {
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            for piece in pieces(para) {
                let candidate = format!("{line}{piece}");
                if !line.is_empty() && self.width(candidate.trim_end()) > max_width {
                    lines.push(line.trim_end().to_string());
                    line = piece.trim_start().to_string();
                } else {
                    line = candidate;
                }
            }
            lines.push(line.trim_end().to_string());
        }
        lines
    }

    /// The width of the widest piece [`Pen::wrap`] cannot break.
    pub fn widest_piece(&self, text: &str) -> u32 {
        text.split('\n')
            .flat_map(pieces)
            .map(|p| self.width(p.trim()))
            .max()
            .unwrap_or(0)
    }
}

/// `a, b;c/d e` -> `a,` ` b;` `c/` `d ` `e`: each piece ends after a break opportunity.
/// A space next to `=` is none, so `γ = 5` stays on one line.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let chars: Vec<(usize, char)> = rest.char_indices().collect();
        let breaks = |k: usize| match chars[k].1 {
            ',' | ';' | '/' => true,
            ' ' => {
                let next = chars.get(k + 1).map(|c| c.1);
                chars[k - 1].1 != '=' && next != Some('=')
            }
            _ => false,
        };
        let end = (1..chars.len())
            .find(|&k| breaks(k))
            .map_or(rest.len(), |k| chars[k].0 + chars[k].1.len_utf8());
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn font_parses_measures_and_draws() {
        let pen = Pen::new(16.0);
        assert!(pen.line_height() >= 16 && pen.line_height() <= 24);
        let w = pen.width("style-weight");
        assert!(w > 60 && w < 140, "{w}");
        // Greek and the en dash are in the subset; a missing character is measured as '?'.
        assert_ne!(pen.font.glyph_id('γ'), GlyphId(0));
        assert_ne!(pen.font.glyph_id('–'), GlyphId(0));
        assert_eq!(pen.width("\u{4e2d}"), pen.width("?"));
        let mut img = RgbImage::from_pixel(120, 30, image::Rgb([255, 255, 255]));
        pen.draw(&mut img, "Hg γ", 2, 2, [0, 0, 0]);
        let dark = img.pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 30, "{dark}");
        // Clipped, not panicking, at the edges.
        pen.draw(&mut img, "edge", 110, 25, [0, 0, 0]);
        pen.draw(&mut img, "edge", -20, -10, [0, 0, 0]);
    }

    #[test]
    fn wrap_breaks_after_commas_and_spaces_only() {
        let pen = Pen::new(12.0);
        let text = "relu1_1,relu2_1,relu3_1,relu4_1";
        let lines = pen.wrap(text, pen.width("relu1_1,relu2_1,"));
        assert_eq!(lines, vec!["relu1_1,relu2_1,", "relu3_1,relu4_1"]);
        assert_eq!(pen.wrap("a b", 1000), vec!["a b"]);
        assert_eq!(pen.wrap("γ = 5, x", 1), vec!["γ = 5,", "x"]);
        assert_eq!(pen.wrap("one\ntwo", 1000), vec!["one", "two"]);
        // An unbreakable piece stays whole.
        assert_eq!(pen.wrap("mmd-gaussian", 5), vec!["mmd-gaussian"]);
        assert_eq!(pen.widest_piece(text), pen.width("relu1_1,"));
    }
}
