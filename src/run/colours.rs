//! A job's colour preservation ([`crate::colour`]): its images before the run, its
//! result after it. Every front end gets it through [`super::JobSpec::colours`].
//!
//! With `luminance` the stages optimise a grey image, so snapshots, stage results and
//! checkpoints are grey (the checkpoint must hold what is optimised); only the image the
//! job returns is recombined with the photo's chroma.

use super::spec::{InitSpec, JobSpec};
use crate::colour::{luminance_image, match_colours, matched_luminance, recombine, PreserveColors};
use crate::image_io::resize;
use crate::tensor::InputImage;
use crate::Result;
use image::Rgb32FImage;

/// Rewrites the job's images for its colour mode; returns the photo the result's chroma
/// comes from (luminance only).
pub(super) fn prepare(spec: &mut JobSpec) -> Result<Option<Rgb32FImage>> {
    let Some(photo) = spec.content.as_ref() else {
        return Ok(None);
    };
    match spec.colours {
        PreserveColors::None => Ok(None),
        PreserveColors::Match => {
            for s in &mut spec.styles {
                let mut m = match_colours(&s.image, photo)?;
                // The network reads valid pixels only, as from any decoded image.
                m.pixels_mut()
                    .for_each(|p| p.0.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0)));
                s.image = m;
            }
            Ok(None)
        }
        PreserveColors::Luminance => {
            for s in &mut spec.styles {
                s.image = matched_luminance(&s.image, photo);
            }
            if let InitSpec::Image(img) = &mut spec.init {
                *img = luminance_image(img);
            }
            let grey = luminance_image(photo);
            Ok(spec.content.replace(grey))
        }
    }
}

/// The result with the photo's chroma (the photo resized to the result's size).
pub(super) fn finish(image: InputImage, photo: Option<&Rgb32FImage>) -> Result<InputImage> {
    match photo {
        None => Ok(image),
        Some(p) => recombine(&image, &resize(p, image.width as u32, image.height as u32)),
    }
}
