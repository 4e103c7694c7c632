//! The grain measure: mean absolute Laplacian of the luminance. Fine "screen-door" noise
//! (alternating neighbouring pixels) has a large Laplacian everywhere; smooth regions and
//! single edges have little. Scored relative to the painting at the same size, so a busy
//! painting allows a busy result.

use image::Rgb32FImage;

/// Mean `|4 Y(i,j) - Y(i-1,j) - Y(i+1,j) - Y(i,j-1) - Y(i,j+1)|` over interior pixels, with
/// the BT.601 luminance `Y = 0.299 R + 0.587 G + 0.114 B` on a 0..255 scale. 0 for images
/// without an interior (under 3 pixels on a side).
pub fn grain(img: &Rgb32FImage) -> f64 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let y: Vec<f64> = img
        .pixels()
        .map(|p| 255.0 * (0.299 * p.0[0] as f64 + 0.587 * p.0[1] as f64 + 0.114 * p.0[2] as f64))
        .collect();
    let mut sum = 0.0;
    for i in 1..h - 1 {
        for j in 1..w - 1 {
            let a = i * w + j;
            sum += (4.0 * y[a] - y[a - 1] - y[a + 1] - y[a - w] - y[a + w]).abs();
        }
    }
    sum / ((h - 2) * (w - 2)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, f: impl Fn(u32, u32) -> f32) -> Rgb32FImage {
        Rgb32FImage::from_fn(w, h, |x, y| image::Rgb([f(x, y); 3]))
    }

    #[test]
    fn flat_and_linear_ramps_have_no_grain() {
        assert!(grain(&image(8, 6, |_, _| 0.4)) < 1e-9);
        assert!(grain(&image(8, 6, |x, y| 0.05 * x as f32 + 0.02 * y as f32)) < 1e-3);
    }

    #[test]
    fn a_checkerboard_scores_eight_times_its_step() {
        // Every interior pixel differs by d from its four neighbours: |4d| + ... = 8 * d/2.
        let g = grain(&image(10, 10, |x, y| {
            if (x + y) % 2 == 0 {
                0.5
            } else {
                0.5 + 0.1
            }
        }));
        assert!((g - 4.0 * 0.1 * 255.0).abs() < 1e-3, "{g}");
    }
}
