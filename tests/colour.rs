//! Colour preservation (`nstyle::colour`, `--preserve-colors`): colour matching gives the
//! painting the photo's colour mean and covariance; a luminance-only job returns the
//! photo's chroma with the optimised luminance.

mod common;
use common::*;
use image::Rgb32FImage;
use nstyle::colour::{
    colour_moments, luminance_image, match_colours, matched_luminance, recombine, rgb_of_yiq, yiq,
    PreserveColors,
};
use nstyle::image_io::{fit_long_edge, from_network, load_image, resize, to_input};
use nstyle::run::{Event, InitSpec, Job, JobSpec, Observer};
use nstyle::tensor::InputImage;
use nstyle::{Backend, ConvAlgorithm, Pooling};
use std::ops::ControlFlow;

fn picture(rel: &str) -> Rgb32FImage {
    load_image(&example(rel)).unwrap().image
}

#[test]
fn matched_colours_have_the_photos_mean_and_covariance() {
    let photo = picture("content/chelsea.jpg");
    for painting in ["style/starry_night.jpg", "style/the_scream.jpg"] {
        let p = picture(painting);
        let m = match_colours(&p, &photo).unwrap();
        assert_eq!(m.dimensions(), p.dimensions());
        // Measured on the unclamped recoloured image.
        let (mu, cov) = colour_moments(&m);
        let (mu_c, cov_c) = colour_moments(&photo);
        let rel_mu = (mu - mu_c).norm() / mu_c.norm();
        let rel_cov = (cov - cov_c).norm() / cov_c.norm();
        assert!(
            rel_mu < 1e-4 && rel_cov < 1e-4,
            "{painting}: {rel_mu:e} {rel_cov:e}"
        );
        // It changed something: the painting's own statistics were far from these.
        let (mu_s, cov_s) = colour_moments(&p);
        assert!((mu_s - mu_c).norm() / mu_c.norm() > 1e-2);
        assert!((cov_s - cov_c).norm() / cov_c.norm() > 1e-2);
    }
}

#[test]
fn yiq_is_inverted_exactly_and_greys_have_no_chroma() {
    for rgb in [[0.2f32, 0.5, 0.9], [1.0, 0.0, 0.3], [0.0, 0.0, 0.0]] {
        let back = rgb_of_yiq(yiq(rgb));
        for c in 0..3 {
            assert!(
                (back[c] - rgb[c] as f64).abs() < 1e-12,
                "{rgb:?} -> {back:?}"
            );
        }
    }
    let [y, i, q] = yiq([0.4, 0.4, 0.4]);
    assert!((y - 0.4f32 as f64).abs() < 1e-12 && i.abs() < 1e-12 && q.abs() < 1e-12);
    // The luminance image is grey with the same Y.
    let p = picture("style/wave.jpg");
    let g = luminance_image(&p);
    for (a, b) in p.pixels().zip(g.pixels()).step_by(97) {
        let (ya, yb) = (yiq(a.0), yiq(b.0));
        assert!((ya[0] - yb[0]).abs() < 1e-6 && yb[1].abs() < 1e-6 && yb[2].abs() < 1e-6);
    }
}

/// Mean and standard deviation of Y.
fn y_moments(img: &Rgb32FImage) -> (f64, f64) {
    let ys: Vec<f64> = img.pixels().map(|p| yiq(p.0)[0]).collect();
    let n = ys.len() as f64;
    let m = ys.iter().sum::<f64>() / n;
    (
        m,
        (ys.iter().map(|y| (y - m).powi(2)).sum::<f64>() / n).sqrt(),
    )
}

#[test]
fn the_paintings_luminance_takes_the_photos_mean_and_spread() {
    // Inputs chosen so that nothing is clamped: a low-contrast painting, a wider photo.
    let painting = Rgb32FImage::from_fn(40, 30, |x, y| {
        let v = 0.45 + 0.1 * ((x * 7 + y * 3) % 11) as f32 / 10.0;
        image::Rgb([v, v * 0.9, 1.0 - v])
    });
    let photo = Rgb32FImage::from_fn(50, 20, |x, y| {
        let v = 0.25 + 0.5 * ((x * 5 + y) % 13) as f32 / 12.0;
        image::Rgb([v, 1.0 - v, v * 0.5])
    });
    let m = matched_luminance(&painting, &photo);
    let ((a, b), (c, d)) = (y_moments(&m), y_moments(&photo));
    assert!(
        (a - c).abs() < 1e-6 && (b - d).abs() < 1e-6,
        "{a} {b} vs {c} {d}"
    );
}

#[test]
fn recombination_keeps_the_outputs_luminance_and_the_photos_chroma() {
    let photo = picture("content/coffee.jpg");
    let (w, h) = fit_long_edge(photo.width(), photo.height(), 48);
    let photo = resize(&photo, w, h);
    let out = to_input(&resize(&picture("style/udnie.jpg"), w, h));
    let r = recombine(&out, &photo).unwrap();
    assert_chroma_of(&r, &photo, &out);
}

/// `image` (network space, unclamped) has the chroma of `photo` and the luminance of
/// `luma`, to f32 rounding.
fn assert_chroma_of(image: &InputImage, photo: &Rgb32FImage, luma: &InputImage) {
    let n = image.height * image.width;
    let rgb = |x: &InputImage, i: usize| -> [f32; 3] {
        std::array::from_fn(|c| (x.data[c * n + i] + nstyle::vgg::MEAN_RGB[c]) / 255.0)
    };
    let mut worst = [0.0f64; 3];
    for (i, p) in photo.pixels().enumerate() {
        let (got, want, y) = (yiq(rgb(image, i)), yiq(p.0), yiq(rgb(luma, i)));
        worst[0] = worst[0].max((got[0] - y[0]).abs());
        worst[1] = worst[1].max((got[1] - want[1]).abs());
        worst[2] = worst[2].max((got[2] - want[2]).abs());
    }
    assert!(
        worst.iter().all(|&e| e < 2e-6),
        "max |Y, I, Q error| {worst:?}"
    );
}

/// Keeps the image of the last stage (what was optimised, before recombination).
struct LastStage(Option<InputImage>);

impl Observer for LastStage {
    fn on_event(&mut self, e: &Event, image: Option<&InputImage>) -> ControlFlow<()> {
        if let (Event::StageFinished(_), Some(x)) = (e, image) {
            self.0 = Some(x.clone());
        }
        ControlFlow::Continue(())
    }
}

#[test]
fn a_luminance_job_returns_the_photos_chroma() {
    let weights = bundled_weights();
    let photo = picture("content/chelsea.jpg");
    let backend = Backend::cpu(Pooling::Average, ConvAlgorithm::Im2col).unwrap();
    let mut spec = JobSpec::new(Some(photo.clone()), picture("style/wave.jpg"), backend);
    spec.size = 48;
    spec.config.iterations = 3;
    spec.colours = PreserveColors::Luminance;
    // From the photo, which the job makes grey.
    spec.init = InitSpec::Content;
    let job = Job::new(spec).unwrap();
    assert_eq!(job.plan().preserve_colors, PreserveColors::Luminance);
    let mut last = LastStage(None);
    let out = job.run(&weights, &mut last).unwrap();
    let optimised = last.0.unwrap();
    // What was optimised is (close to) grey, the result is not.
    let chroma = |x: &InputImage| -> f64 {
        let img = from_network(x);
        img.pixels().map(|p| yiq(p.0)[1].abs()).sum::<f64>() / img.len() as f64
    };
    assert!(chroma(&out.image) > 5.0 * chroma(&optimised));
    let photo_at_size = resize(&photo, out.image.width as u32, out.image.height as u32);
    assert_chroma_of(&out.image, &photo_at_size, &optimised);
}

#[test]
fn colour_modes_need_a_photo() {
    let backend = Backend::cpu(Pooling::Average, ConvAlgorithm::Im2col).unwrap();
    let mut spec = JobSpec::new(None, picture("style/wave.jpg"), backend);
    spec.size = 48;
    spec.colours = PreserveColors::Match;
    let e = Job::new(spec).err().unwrap().to_string();
    assert!(
        e.starts_with("preserve-colors needs a content image"),
        "{e}"
    );
}
