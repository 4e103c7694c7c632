//! A contact sheet: a grid of images with a label over each column and beside each row,
//! optional images that go with every row or column (a sweep's photo and painting when they
//! vary), a header of labelled images (when they do not) and a title. Pure drawing: it
//! returns the picture and where each cell went; saving it is the caller's business.
//!
//! Layout, top to bottom: title; header; the column axis's title; column labels; the
//! column strips; the rows. Left to right: the row labels (right-aligned, the row axis's
//! title above them); the row strips; the cells. Every cell sits centred in a box the size
//! of the largest cell, copied pixel for pixel; columns widen only for a label word that
//! cannot be broken. Sizes of text and spacing follow the cell size.

pub mod text;

use crate::{Error, Result};
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};
use serde::Serialize;
use text::Pen;

/// An image with a caption under it (the header's photo and painting).
pub struct Labelled {
    pub label: String,
    pub image: RgbImage,
}

/// One image per row (shown before the row's cells) or per column (above its cells),
/// under a title: the photo of each row, say, when the rows vary it.
pub struct Strip {
    pub title: String,
    pub images: Vec<RgbImage>,
}

/// What to draw. `cells` is row-major, `row_labels.len()` rows by `col_labels.len()`
/// columns (a one-dimensional sweep has a single row or column with an empty label);
/// `None` draws an empty box (a cell not computed yet).
#[derive(Default)]
pub struct Sheet {
    pub title: String,
    pub header: Vec<Labelled>,
    pub row_title: String,
    pub col_title: String,
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
    pub row_strips: Vec<Strip>,
    pub col_strips: Vec<Strip>,
    pub cells: Vec<Option<RgbImage>>,
}

/// A rectangle of the sheet, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// The sheet and where each cell's image was copied (row-major; `None` for empty cells).
pub struct Rendered {
    pub image: RgbImage,
    pub cells: Vec<Option<Rect>>,
}

const PAPER: Rgb<u8> = Rgb([255, 255, 255]);
const EMPTY: Rgb<u8> = Rgb([235, 235, 235]);
const INK: [u8; 3] = [25, 25, 25];
const SOFT: [u8; 3] = [105, 105, 105];

/// Text and spacing, scaled with the cell box.
struct Style {
    pen: Pen,
    title_pen: Pen,
    line: u32,
    pad: u32,
    gap: u32,
}

impl Style {
    fn for_box(bw: u32, bh: u32) -> Style {
        let px = (bh as f32 * 0.075).round().clamp(12.0, 22.0);
        let pen = Pen::new(px);
        Style {
            line: pen.line_height(),
            pen,
            title_pen: Pen::new((px * 1.3).round()),
            pad: ((px / 1.5).round() as u32).max(4),
            gap: (bw.max(bh) / 64).max(2),
        }
    }
}

/// A block of wrapped lines and its size.
struct Block {
    lines: Vec<String>,
    width: u32,
}

impl Block {
    fn new(pen: &Pen, text: &str, max_width: u32) -> Block {
        if text.trim().is_empty() {
            return Block {
                lines: Vec::new(),
                width: 0,
            };
        }
        let lines = pen.wrap(text, max_width);
        let width = lines.iter().map(|l| pen.width(l)).max().unwrap_or(0);
        Block { lines, width }
    }

    fn height(&self, line: u32) -> u32 {
        self.lines.len() as u32 * line
    }

    /// Draws the lines from `y` down, each placed in `[x, x + w)` by `align`.
    fn draw(&self, img: &mut RgbImage, pen: &Pen, line: u32, at: (u32, u32, u32), align: Align) {
        let (x, y, w) = at;
        for (k, l) in self.lines.iter().enumerate() {
            let lw = pen.width(l);
            let lx = match align {
                Align::Centre => x as i32 + (w as i32 - lw as i32) / 2,
                Align::Right => (x + w) as i32 - lw as i32,
            };
            pen.draw(img, l, lx, (y + k as u32 * line) as i32, INK);
        }
    }

    fn draw_soft(&self, img: &mut RgbImage, pen: &Pen, line: u32, at: (u32, u32, u32)) {
        let (x, y, w) = at;
        for (k, l) in self.lines.iter().enumerate() {
            let lx = x as i32 + (w as i32 - pen.width(l) as i32) / 2;
            pen.draw(img, l, lx, (y + k as u32 * line) as i32, SOFT);
        }
    }
}

#[derive(Clone, Copy)]
enum Align {
    Centre,
    Right,
}

impl Sheet {
    /// Lays the sheet out and draws it.
    pub fn render(&self) -> Result<Rendered> {
        let (rows, cols) = (self.row_labels.len(), self.col_labels.len());
        if rows == 0 || cols == 0 || self.cells.len() != rows * cols {
            return Err(Error::Shape(format!(
                "a sheet of {rows} x {cols} needs {} cells, got {}",
                rows * cols,
                self.cells.len()
            )));
        }
        let strips_ok = self.row_strips.iter().all(|s| s.images.len() == rows)
            && self.col_strips.iter().all(|s| s.images.len() == cols);
        if !strips_ok {
            return Err(Error::Shape(
                "a sheet's strips need one image per row (or column)".into(),
            ));
        }
        let cells = self.cells.iter().flatten();
        let bw = cells.clone().map(|c| c.width()).max().unwrap_or(64);
        let bh = cells.map(|c| c.height()).max().unwrap_or(64);
        let st = Style::for_box(bw, bh);
        let (pen, line, pad, gap) = (&st.pen, st.line, st.pad, st.gap);

        // Columns: the row strips first, then the cells; each at least a box wide.
        let top_labels: Vec<&str> = self
            .row_strips
            .iter()
            .map(|s| s.title.as_str())
            .chain(self.col_labels.iter().map(String::as_str))
            .collect();
        let col_w: Vec<u32> = top_labels
            .iter()
            .map(|l| bw.max(pen.widest_piece(l)))
            .collect();
        let col_blocks: Vec<Block> = top_labels
            .iter()
            .zip(&col_w)
            .map(|(l, &w)| Block::new(pen, l, w))
            .collect();
        let labels_h = col_blocks.iter().map(|b| b.height(line)).max().unwrap_or(0);
        let first_cell_col = self.row_strips.len();
        let cells_w: u32 = col_w[first_cell_col..].iter().sum::<u32>() + gap * (cols as u32 - 1);
        let grid_w: u32 = col_w.iter().sum::<u32>() + gap * (col_w.len() as u32 - 1);
        let col_title = Block::new(pen, &self.col_title, cells_w.max(bw));

        // The row label column: row labels, the column strips' titles, the row axis title.
        let left_texts: Vec<&str> = self
            .col_strips
            .iter()
            .map(|s| s.title.as_str())
            .chain(self.row_labels.iter().map(String::as_str))
            .chain([self.row_title.as_str()])
            .collect();
        let cap = bw.max(10 * line);
        let label_w = left_texts
            .iter()
            .map(|t| pen.width(t).min(cap).max(pen.widest_piece(t)))
            .max()
            .unwrap_or(0);
        let left: Vec<Block> = left_texts
            .iter()
            .map(|t| Block::new(pen, t, label_w))
            .collect();
        let (strip_titles, rest) = left.split_at(self.col_strips.len());
        let (row_blocks, row_title) = rest.split_at(rows);
        let row_title = &row_title[0];
        let label_w = left.iter().map(|b| b.width).max().unwrap_or(0);
        let label_span = if label_w > 0 { label_w + pad } else { 0 };
        let row_h: Vec<u32> = row_blocks.iter().map(|b| bh.max(b.height(line))).collect();

        // Header: the images at the box height, captions under them.
        let thumbs: Vec<RgbImage> = self
            .header
            .iter()
            .map(|h| fit(&h.image, bw.max(bh) * 2, bh))
            .collect();
        let captions: Vec<Block> = self
            .header
            .iter()
            .zip(&thumbs)
            .map(|(h, t)| {
                let w = pen
                    .width(&h.label)
                    .min(3 * bw)
                    .max(pen.widest_piece(&h.label));
                Block::new(pen, &h.label, t.width().max(w))
            })
            .collect();
        let slot_w: Vec<u32> = thumbs
            .iter()
            .zip(&captions)
            .map(|(t, c)| t.width().max(c.width))
            .collect();
        let header_w = slot_w.iter().sum::<u32>() + pad * (slot_w.len() as u32).saturating_sub(1);
        let caption_h = captions.iter().map(|c| c.height(line)).max().unwrap_or(0);

        let body_w = label_span + grid_w;
        let title = Block::new(
            &st.title_pen,
            &self.title,
            body_w.max(header_w).max(40 * line),
        );
        let inner_w = body_w.max(header_w).max(title.width);
        let width = inner_w + 2 * pad;

        // Vertical positions.
        let mut y = pad;
        let title_y = y;
        if !title.lines.is_empty() {
            y += title.height(st.title_pen.line_height()) + pad;
        }
        let header_y = y;
        if !thumbs.is_empty() {
            y += bh + gap + caption_h + pad;
        }
        let col_title_y = y;
        if !col_title.lines.is_empty() {
            y += col_title.height(line) + gap;
        }
        let labels_y = y;
        y += labels_h + if labels_h > 0 { gap } else { 0 };
        let strips_y = y;
        y += (bh + gap) * self.col_strips.len() as u32;
        let mut row_y = Vec::with_capacity(rows);
        for h in &row_h {
            row_y.push(y);
            y += h + gap;
        }
        let height = y - gap + pad;

        let mut img = RgbImage::from_pixel(width, height, PAPER);
        let x_body = pad + (inner_w - body_w) / 2;
        let x_grid = x_body + label_span;
        let mut col_x = Vec::with_capacity(col_w.len());
        let mut x = x_grid;
        for w in &col_w {
            col_x.push(x);
            x += w + gap;
        }

        title.draw(
            &mut img,
            &st.title_pen,
            st.title_pen.line_height(),
            (pad, title_y, inner_w),
            Align::Centre,
        );
        let mut x = pad + (inner_w - header_w) / 2;
        for ((t, c), w) in thumbs.iter().zip(&captions).zip(&slot_w) {
            paste(
                &mut img,
                t,
                x + (w - t.width()) / 2,
                header_y + bh - t.height(),
            );
            c.draw(
                &mut img,
                pen,
                line,
                (x, header_y + bh + gap, *w),
                Align::Centre,
            );
            x += w + pad;
        }
        let x_cells = col_x[first_cell_col];
        col_title.draw_soft(&mut img, pen, line, (x_cells, col_title_y, cells_w));
        row_title.draw_soft(
            &mut img,
            pen,
            line,
            (
                x_body,
                labels_y + labels_h - row_title.height(line),
                label_w,
            ),
        );
        for (k, b) in col_blocks.iter().enumerate() {
            let by = labels_y + labels_h - b.height(line);
            b.draw(&mut img, pen, line, (col_x[k], by, col_w[k]), Align::Centre);
        }
        for (k, strip) in self.col_strips.iter().enumerate() {
            let sy = strips_y + k as u32 * (bh + gap);
            let t = &strip_titles[k];
            let ty = sy + bh.saturating_sub(t.height(line)) / 2;
            t.draw(&mut img, pen, line, (x_body, ty, label_w), Align::Right);
            for (j, im) in strip.images.iter().enumerate() {
                let c = first_cell_col + j;
                place(&mut img, &fit(im, bw, bh), (col_x[c], sy, col_w[c], bh));
            }
        }
        let mut placed = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            let (ry, rh) = (row_y[i], row_h[i]);
            let b = &row_blocks[i];
            let ty = ry + rh.saturating_sub(b.height(line)) / 2;
            b.draw(&mut img, pen, line, (x_body, ty, label_w), Align::Right);
            for (k, strip) in self.row_strips.iter().enumerate() {
                place(
                    &mut img,
                    &fit(&strip.images[i], bw, bh),
                    (col_x[k], ry, col_w[k], rh),
                );
            }
            for j in 0..cols {
                let c = first_cell_col + j;
                let slot = (col_x[c], ry, col_w[c], rh);
                placed.push(match &self.cells[i * cols + j] {
                    Some(cell) => Some(place(&mut img, cell, slot)),
                    None => {
                        let empty = RgbImage::from_pixel(bw, bh, EMPTY);
                        place(&mut img, &empty, slot);
                        None
                    }
                });
            }
        }
        Ok(Rendered {
            image: img,
            cells: placed,
        })
    }
}

/// `im` scaled (down or up) to fit `w x h`, keeping its aspect ratio.
fn fit(im: &RgbImage, w: u32, h: u32) -> RgbImage {
    let s = (w as f64 / im.width() as f64).min(h as f64 / im.height() as f64);
    let (nw, nh) = (
        ((im.width() as f64 * s).round() as u32).clamp(1, w),
        ((im.height() as f64 * s).round() as u32).clamp(1, h),
    );
    if (nw, nh) == im.dimensions() {
        return im.clone();
    }
    imageops::resize(im, nw, nh, FilterType::CatmullRom)
}

/// Copies `im` centred into the slot `(x, y, w, h)`; returns where it went.
fn place(img: &mut RgbImage, im: &RgbImage, slot: (u32, u32, u32, u32)) -> Rect {
    let (x, y, w, h) = slot;
    let r = Rect {
        x: x + w.saturating_sub(im.width()) / 2,
        y: y + h.saturating_sub(im.height()) / 2,
        width: im.width(),
        height: im.height(),
    };
    paste(img, im, r.x, r.y);
    r
}

fn paste(img: &mut RgbImage, im: &RgbImage, x: u32, y: u32) {
    imageops::replace(img, im, x as i64, y as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, v: u8) -> RgbImage {
        RgbImage::from_pixel(w, h, Rgb([v, 255 - v, v / 2]))
    }

    #[test]
    fn cells_are_copied_exactly_where_the_layout_says() {
        let sheet = Sheet {
            title: "Figure: a test".into(),
            header: vec![Labelled {
                label: "style: painting.jpg".into(),
                image: solid(50, 40, 9),
            }],
            row_title: "style-loss".into(),
            col_title: "style-weight".into(),
            row_labels: vec!["mmd-linear".into(), "bn".into()],
            col_labels: vec!["0.1".into(), "1".into(), "10".into()],
            row_strips: vec![Strip {
                title: "content".into(),
                images: vec![solid(20, 30, 3), solid(30, 20, 4)],
            }],
            cells: (0..6)
                .map(|k| (k != 4).then(|| solid(40, 30 - k, 10 * k as u8)))
                .collect(),
            ..Default::default()
        };
        let r = sheet.render().unwrap();
        assert_eq!(r.cells.len(), 6);
        assert!(r.cells[4].is_none());
        for (k, rect) in r.cells.iter().enumerate() {
            let Some(rect) = rect else { continue };
            let cell = sheet.cells[k].as_ref().unwrap();
            assert_eq!((rect.width, rect.height), cell.dimensions());
            let crop = imageops::crop_imm(&r.image, rect.x, rect.y, rect.width, rect.height);
            assert_eq!(&crop.to_image(), cell, "cell {k}");
        }
        // Cells of one row share a top band; columns go left to right.
        let (a, b) = (r.cells[0].unwrap(), r.cells[1].unwrap());
        assert!(b.x >= a.x + a.width);
        assert!(r.cells[3].unwrap().y > a.y + a.height);
        assert!(r.image.width() > 3 * 40 + 20 && r.image.height() > 2 * 30 + 40);
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let sheet = Sheet {
            row_labels: vec!["a".into()],
            col_labels: vec!["b".into(), "c".into()],
            cells: vec![None],
            ..Default::default()
        };
        assert!(sheet.render().is_err());
    }
}
