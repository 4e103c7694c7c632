//! Images in and out: decoding with limits and EXIF orientation, resizing, conversion to
//! and from the network's input space, atomic writes, and `.npy` tensors.

use crate::tensor::InputImage;
use crate::vgg::MEAN_RGB;
use crate::{Error, Result};
use image::{DynamicImage, ImageDecoder, ImageReader, Rgb32FImage};
use std::io::{BufWriter, Write};
use std::path::Path;

mod tiff_tags;

/// Largest input image accepted, in pixels (checked from the header, before decoding).
pub const MAX_INPUT_PIXELS: u64 = 100_000_000;

/// A decoded RGB image, values 0..1, with notes about conversions made while loading.
pub struct LoadedImage {
    pub image: Rgb32FImage,
    /// Conversions worth telling the user once (grayscale, alpha dropped, ...).
    pub notes: Vec<String>,
}

/// Largest allocation a decoder may make, in bytes.
pub const MAX_DECODE_BYTES: u64 = 4 << 30;

/// Decodes any supported image (PNG, JPEG, WebP, TIFF, BMP), applying EXIF orientation.
/// Refuses zero-size images and images above [`MAX_INPUT_PIXELS`] before allocating.
pub fn load_image(path: &Path) -> Result<LoadedImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_image(&bytes, path)
}

/// [`load_image`] for bytes already in memory (an upload): the format is recognised from
/// the content, never from a name, with the same limits. `name` only labels messages.
/// An image above [`MAX_INPUT_PIXELS`] is [`Error::TooLarge`].
pub fn decode_image(bytes: &[u8], name: &Path) -> Result<LoadedImage> {
    let path = name;
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    match reader.format() {
        None => {
            return Err(Error::image(
                path,
                "not a supported image (PNG, JPEG, WebP, TIFF or BMP)",
            ))
        }
        // JPEG decoders fill a cut-off file with grey instead of failing: insist on the
        // end-of-image marker (trailing padding after it is allowed).
        Some(image::ImageFormat::Jpeg) if !has_jpeg_end_marker(bytes) => {
            return Err(Error::image(
                path,
                "truncated JPEG (no end-of-image marker)",
            ))
        }
        // A text field where the decoder reads numbers makes the `tiff` crate print a
        // debugging line of its own; refuse it first.
        Some(image::ImageFormat::Tiff) => {
            tiff_tags::check_tiff_tags(bytes).map_err(|m| Error::image(path, m))?
        }
        _ => {}
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| Error::image(path, format!("cannot decode image: {e}")))?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(Error::image(path, format!("image has zero size ({w}x{h})")));
    }
    if (w as u64) * (h as u64) > MAX_INPUT_PIXELS {
        return Err(Error::TooLarge(format!(
            "{}: image is {w}x{h} = {} pixels, above the limit of {MAX_INPUT_PIXELS}",
            path.display(),
            w as u64 * h as u64
        )));
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let color = decoder.color_type();
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(|e| Error::image(path, format!("cannot decode image: {e}")))?;
    img.apply_orientation(orientation);
    let mut notes = Vec::new();
    let name = path.display();
    if !color.has_color() {
        notes.push(format!("{name}: grayscale image, converted to RGB"));
    }
    if color.has_alpha() {
        notes.push(format!("{name}: alpha channel ignored"));
    }
    if orientation != image::metadata::Orientation::NoTransforms {
        notes.push(format!("{name}: EXIF orientation applied"));
    }
    Ok(LoadedImage {
        image: img.to_rgb32f(),
        notes,
    })
}

fn has_jpeg_end_marker(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Size with the long edge equal to `long_edge`, aspect ratio kept (each side at least 1).
pub fn fit_long_edge(w: u32, h: u32, long_edge: u32) -> (u32, u32) {
    if w >= h {
        let nh = ((h as f64) * long_edge as f64 / w as f64).round().max(1.0) as u32;
        (long_edge, nh)
    } else {
        let nw = ((w as f64) * long_edge as f64 / h as f64).round().max(1.0) as u32;
        (nw, long_edge)
    }
}

/// Lanczos3 resampling in f32; resizing to the current size returns the image unchanged.
pub fn resize(img: &Rgb32FImage, w: u32, h: u32) -> Rgb32FImage {
    if img.dimensions() == (w, h) {
        return img.clone();
    }
    let mut out = image::imageops::resize(img, w, h, image::imageops::FilterType::Lanczos3);
    out.pixels_mut()
        .for_each(|p| p.0.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0)));
    out
}

/// `3 x H x W` planar RGB in the network's input space (0..255 minus the means).
pub fn to_network(img: &Rgb32FImage) -> Vec<f32> {
    let (w, h) = img.dimensions();
    let n = (w * h) as usize;
    let mut out = vec![0.0f32; 3 * n];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * n + i] = p.0[c] * 255.0 - MEAN_RGB[c];
        }
    }
    out
}

/// An RGB image as the pipeline's [`InputImage`] (network space).
pub fn to_input(img: &Rgb32FImage) -> InputImage {
    let (w, h) = img.dimensions();
    InputImage {
        height: h as usize,
        width: w as usize,
        data: to_network(img),
    }
}

/// Back from network space to an RGB image, clamped to the valid range.
pub fn from_network(image: &InputImage) -> Rgb32FImage {
    let (x, h, w) = (&image.data, image.height, image.width);
    let n = h * w;
    Rgb32FImage::from_fn(w as u32, h as u32, |px, py| {
        let i = py as usize * w + px as usize;
        image::Rgb(std::array::from_fn(|c| {
            ((x[c * n + i] + MEAN_RGB[c]) / 255.0).clamp(0.0, 1.0)
        }))
    })
}

/// Output formats chosen by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Png,
    Jpeg,
    Tiff,
}

impl OutputFormat {
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "png" => Ok(OutputFormat::Png),
            "jpg" | "jpeg" => Ok(OutputFormat::Jpeg),
            "tif" | "tiff" => Ok(OutputFormat::Tiff),
            _ => Err(Error::option(format!(
                "{}: unsupported output extension (use .png, .jpg, .jpeg, .tif or .tiff)",
                path.display()
            ))),
        }
    }
}

/// Checks that `path` can be written later (extension known, directory exists), so a long
/// run does not fail at its end.
pub fn check_output_path(path: &Path, sixteen_bit: bool) -> Result<OutputFormat> {
    let fmt = OutputFormat::from_path(path)?;
    if sixteen_bit && fmt == OutputFormat::Jpeg {
        return Err(Error::option(
            "16-bit output needs a .png or .tif file (JPEG is 8-bit)",
        ));
    }
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(Error::option(format!(
            "{}: output directory does not exist",
            dir.display()
        )));
    }
    Ok(fmt)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes through a temporary file in the destination directory, then renames it into
/// place: readers never see a half-written file, and a failure leaves no file behind.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = parent_dir(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".nstyle-").suffix(".tmp");
    // A temporary file is private (0600); the result should get the usual permissions,
    // 0666 less the umask, like any file the user creates.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let tmp = builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        write(&mut w).map_err(|e| Error::io(path, e))?;
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Saves an image by extension (PNG, JPEG quality 95, TIFF), 8- or 16-bit, atomically.
pub fn save_image(path: &Path, img: &Rgb32FImage, sixteen_bit: bool) -> Result<()> {
    let fmt = check_output_path(path, sixteen_bit)?;
    let bytes = encode_image(img, fmt, sixteen_bit)
        .map_err(|e| Error::image(path, format!("cannot encode image: {e}")))?;
    write_atomically(path, |w| w.write_all(&bytes))
}

/// The bytes [`save_image`] writes: PNG, JPEG (quality 95, 8-bit only) or TIFF, 8- or
/// 16-bit per channel.
pub fn encode_image(
    img: &Rgb32FImage,
    fmt: OutputFormat,
    sixteen_bit: bool,
) -> std::result::Result<Vec<u8>, image::ImageError> {
    let dynamic = DynamicImage::ImageRgb32F(img.clone());
    let encoded: DynamicImage = if sixteen_bit && fmt != OutputFormat::Jpeg {
        DynamicImage::ImageRgb16(dynamic.to_rgb16())
    } else {
        DynamicImage::ImageRgb8(dynamic.to_rgb8())
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    match fmt {
        OutputFormat::Png => encoded.write_to(&mut bytes, image::ImageFormat::Png),
        OutputFormat::Tiff => encoded.write_to(&mut bytes, image::ImageFormat::Tiff),
        OutputFormat::Jpeg => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95);
            encoded.write_with_encoder(enc)
        }
    }?;
    Ok(bytes.into_inner())
}

/// Writes a float32 `.npy` array of the given shape, atomically.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    if shape.iter().product::<usize>() != data.len() {
        return Err(Error::Shape(format!(
            "{}: shape {shape:?} does not hold {} values",
            path.display(),
            data.len()
        )));
    }
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        use npyz::WriterBuilder;
        let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut buf)
            .begin_nd()
            .map_err(|e| Error::io(path, e))?;
        w.extend(data.iter().copied())
            .map_err(|e| Error::io(path, e))?;
        w.finish().map_err(|e| Error::io(path, e))?;
    }
    let bytes = buf.into_inner();
    write_atomically(path, |w| w.write_all(&bytes))
}

/// What the `.npy` parser is given must be a plain header. Found by fuzzing: the header
/// length a file states is allocated before anything is read (74 bytes claimed a 3 GB
/// header), and deeply nested brackets in the header's Python literal take the parser
/// exponential time (100 bytes ran for minutes). nstyle reads plain float arrays, whose
/// headers hold one dict and one shape tuple and no lists.
fn check_npy_header(bytes: &[u8], path: &Path) -> Result<()> {
    let bad = || Error::image(path, "not a valid .npy file: bad header");
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad());
    }
    let (start, len) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => (
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
        _ => return Err(bad()),
    };
    if start + len > bytes.len() {
        return Err(bad());
    }
    let header = &bytes[start..start + len];
    let count = |c: u8| header.iter().filter(|&&b| b == c).count();
    if count(b'{') > 1 || count(b'(') > 1 || count(b'[') > 0 {
        return Err(bad());
    }
    Ok(())
}

/// Reads a C-order float32 or float64 `.npy` array as f32 with its shape.
pub fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes, path)
}

/// [`read_npy`] on bytes in memory; `path` only labels messages. The header's shape is
/// checked against the data actually present before anything is allocated.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    check_npy_header(bytes, path)?;
    let npy = npyz::NpyFile::new(bytes)
        .map_err(|e| Error::image(path, format!("not a valid .npy file: {e}")))?;
    if npy.order() != npyz::Order::C {
        return Err(Error::image(path, ".npy array must be in C order"));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let float_size = match npy.dtype() {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float => t.size_field(),
        _ => 0,
    };
    let fits = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .and_then(|n| n.checked_mul(float_size.max(1) as usize))
        .is_some_and(|b| b <= bytes.len());
    if !fits {
        return Err(Error::image(
            path,
            ".npy file is truncated or its shape is impossible",
        ));
    }
    let data: Vec<f32> = match float_size {
        4 => npy.into_vec::<f32>(),
        // float64 is read exactly and rounded once (the engine computes in f32).
        8 => npy
            .into_vec::<f64>()
            .map(|v| v.into_iter().map(|x| x as f32).collect()),
        _ => {
            return Err(Error::image(
                path,
                format!(
                    ".npy dtype must be float32 or float64, found {}",
                    npy.dtype().descr()
                ),
            ))
        }
    }
    .map_err(|e| Error::image(path, format!("cannot read .npy data: {e}")))?;
    if data.len() != shape.iter().product::<usize>() {
        return Err(Error::image(path, ".npy file is truncated"));
    }
    Ok((shape, data))
}
