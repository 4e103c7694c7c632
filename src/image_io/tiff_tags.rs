//! A TIFF's first directory, checked before the `tiff` crate reads it. That crate (0.11.3,
//! the newest) prints a `dbg!` line to stderr when a tag it reads is stored as text longer
//! than its buffer limit (found by the `image` fuzz target: `PhotometricInterpretation` as
//! 3.9 GB of text), and an nstyle error is one line. Every tag the decoder reads holds
//! numbers in a valid TIFF, so text in one of them is refused here first.

/// The TIFF field type for text.
const ASCII: u16 = 2;

/// The tags read while decoding the first image: its layout (the `tiff` crate) and its
/// sample format and orientation (`image`). Text tags such as `ImageDescription` are
/// never read, so a long description stays harmless and allowed.
const READ_AS_NUMBERS: [u16; 21] = [
    255, // SubfileType
    256, // ImageWidth
    257, // ImageLength
    258, // BitsPerSample
    259, // Compression
    262, // PhotometricInterpretation
    273, // StripOffsets
    274, // Orientation
    277, // SamplesPerPixel
    278, // RowsPerStrip
    279, // StripByteCounts
    284, // PlanarConfiguration
    317, // Predictor
    322, // TileWidth
    323, // TileLength
    324, // TileOffsets
    325, // TileByteCounts
    338, // ExtraSamples
    339, // SampleFormat
    347, // JPEGTables
    530, // ChromaSubsampling
];

/// The byte order and offset width of a TIFF file, from its header.
struct Layout {
    big_endian: bool,
    bigtiff: bool,
}

impl Layout {
    fn of(bytes: &[u8]) -> Option<Layout> {
        let (big_endian, bigtiff) = match bytes.get(..4)? {
            b"II*\0" => (false, false),
            b"MM\0*" => (true, false),
            b"II+\0" => (false, true),
            b"MM\0+" => (true, true),
            _ => return None,
        };
        Some(Layout {
            big_endian,
            bigtiff,
        })
    }

    /// The unsigned integer of `N` bytes at `at`, in the file's byte order.
    fn uint<const N: usize>(&self, bytes: &[u8], at: usize) -> Option<u64> {
        let field: [u8; N] = bytes.get(at..at.checked_add(N)?)?.try_into().ok()?;
        let mut value = 0u64;
        for i in 0..N {
            let byte = if self.big_endian {
                field[i]
            } else {
                field[N - 1 - i]
            };
            value = value << 8 | u64::from(byte);
        }
        Some(value)
    }
}

/// `Err(message)` when the first directory of a TIFF stores text in a tag the decoder
/// reads. Anything else passes, a file that is no TIFF or whose directory cannot be read
/// included: the decoder's own error says what is wrong with those.
pub fn check_tiff_tags(bytes: &[u8]) -> Result<(), String> {
    let Some(layout) = Layout::of(bytes) else {
        return Ok(());
    };
    // Classic TIFF: 4-byte offset at 4, 2-byte entry count, 12-byte entries.
    // BigTIFF: 8-byte offset at 8, 8-byte entry count, 20-byte entries.
    let (directory, count, first, entry_len) = if layout.bigtiff {
        let Some(directory) = layout.uint::<8>(bytes, 8) else {
            return Ok(());
        };
        let directory = usize::try_from(directory).unwrap_or(usize::MAX);
        (directory, layout.uint::<8>(bytes, directory), 8, 20)
    } else {
        let Some(directory) = layout.uint::<4>(bytes, 4) else {
            return Ok(());
        };
        let directory = directory as usize;
        (directory, layout.uint::<2>(bytes, directory), 2, 12)
    };
    let Some(count) = count else {
        return Ok(());
    };
    // Entries past the end of the file are the decoder's to refuse; stopping there also
    // bounds the loop however large the stated count.
    for i in 0..count {
        let Some(at) = (i as usize)
            .checked_mul(entry_len)
            .and_then(|offset| offset.checked_add(directory + first))
        else {
            break;
        };
        let (Some(tag), Some(kind)) =
            (layout.uint::<2>(bytes, at), layout.uint::<2>(bytes, at + 2))
        else {
            break;
        };
        let tag = tag as u16;
        if kind == u64::from(ASCII) && READ_AS_NUMBERS.contains(&tag) {
            return Err(format!(
                "corrupt TIFF: tag {tag} is stored as text where the format has numbers"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of `(tag, type, count)` entries in classic TIFF (value fields zero).
    fn classic(big_endian: bool, entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let u16b = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u32b = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut out = if big_endian {
            b"MM\0*".to_vec()
        } else {
            b"II*\0".to_vec()
        };
        out.extend(u32b(8));
        out.extend(u16b(entries.len() as u16));
        for &(tag, kind, count) in entries {
            out.extend(u16b(tag));
            out.extend(u16b(kind));
            out.extend(u32b(count));
            out.extend([0; 4]);
        }
        out.extend([0; 4]);
        out
    }

    #[test]
    fn text_in_a_tag_the_decoder_reads_is_refused_in_either_byte_order() {
        for big_endian in [false, true] {
            let bytes = classic(big_endian, &[(256, 3, 1), (262, ASCII, 0xE7E7_E7E7)]);
            let err = check_tiff_tags(&bytes).unwrap_err();
            assert!(err.contains("tag 262"), "{err}");
        }
    }

    #[test]
    fn text_tags_and_numbers_pass() {
        // ImageDescription (270) is text by definition; PhotometricInterpretation a SHORT.
        let bytes = classic(false, &[(262, 3, 1), (270, ASCII, 5_000_000)]);
        assert_eq!(check_tiff_tags(&bytes), Ok(()));
        // A real TIFF written by the `image` crate.
        let mut tiff = std::io::Cursor::new(Vec::new());
        image::RgbImage::new(4, 3)
            .write_to(&mut tiff, image::ImageFormat::Tiff)
            .unwrap();
        assert_eq!(check_tiff_tags(tiff.get_ref()), Ok(()));
    }

    #[test]
    fn bigtiff_directories_are_read_with_their_wider_fields() {
        let mut bytes = b"II+\0".to_vec();
        bytes.extend(8u16.to_le_bytes()); // offset size
        bytes.extend(0u16.to_le_bytes());
        bytes.extend(16u64.to_le_bytes()); // first directory
        bytes.extend(1u64.to_le_bytes()); // one entry
        bytes.extend(259u16.to_le_bytes()); // Compression
        bytes.extend(ASCII.to_le_bytes());
        bytes.extend(u64::MAX.to_le_bytes());
        bytes.extend(0u64.to_le_bytes());
        assert!(check_tiff_tags(&bytes).unwrap_err().contains("tag 259"));
    }

    #[test]
    fn cut_off_or_foreign_bytes_are_left_to_the_decoder() {
        let full = classic(false, &[(256, 3, 1), (262, ASCII, 100)]);
        // The directory claims more entries than the file holds: stop at its end.
        let mut many = classic(false, &[(256, 3, 1)]);
        many[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(check_tiff_tags(&many), Ok(()));
        for cut in 0..full.len() - 4 {
            let _ = check_tiff_tags(&full[..cut]);
        }
        assert_eq!(check_tiff_tags(&full[..20]), Ok(())); // the text entry is cut off
        assert_eq!(check_tiff_tags(b"\x89PNG\r\n\x1a\n"), Ok(()));
    }
}
