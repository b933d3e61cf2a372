//! Enough of JPEG's structure to tell a real JPEG from bytes named `.jpg`: the markers
//! from start to end of image, the frame's size and colour components, and EXIF.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub width: u16,
    pub height: u16,
    /// 1 greyscale, 3 colour (YCbCr), 4 CMYK.
    pub components: u8,
    pub progressive: bool,
    pub exif: bool,
}

impl Info {
    pub fn describe(&self) -> String {
        let colors = match self.components {
            1 => "greyscale",
            3 => "colour",
            4 => "CMYK",
            _ => "unusual colours",
        };
        format!("JPEG {}x{} {colors}", self.width, self.height)
    }
}

/// Walks the markers; the image data must end with EOI (a cut-off upload does not).
pub fn inspect(b: &[u8]) -> Result<Info, String> {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return Err("not a JPEG (no start-of-image marker)".into());
    }
    let mut i = 2;
    let mut exif = false;
    loop {
        while b.get(i) == Some(&0xFF) && b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (b.get(i), b.get(i + 1)) else {
            return Err(format!("not a JPEG: no marker at byte {i}"));
        };
        let len = match (b.get(i + 2), b.get(i + 3)) {
            (Some(&hi), Some(&lo)) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => return Err("truncated JPEG".into()),
        };
        let seg = b
            .get(i + 4..i + 2 + len)
            .ok_or_else(|| "truncated JPEG".to_string())?;
        match marker {
            0xE1 if seg.starts_with(b"Exif\0\0") => exif = true,
            // Start of frame: baseline, extended, progressive (Huffman or arithmetic).
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                if seg.len() < 6 {
                    return Err("truncated JPEG frame header".into());
                }
                let height = u16::from_be_bytes([seg[1], seg[2]]);
                let width = u16::from_be_bytes([seg[3], seg[4]]);
                if width == 0 || height == 0 {
                    return Err("JPEG with an empty frame".into());
                }
                let end = b.len() - b.iter().rev().take_while(|&&x| x == 0).count();
                if end < 2 || b[end - 2..end] != [0xFF, 0xD9] {
                    return Err("the JPEG is cut off (no end-of-image marker)".into());
                }
                return Ok(Info {
                    width,
                    height,
                    components: seg[5],
                    progressive: matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE),
                    exif,
                });
            }
            0xD9 | 0xDA => return Err("a JPEG without a frame header".into()),
            _ => {}
        }
        i += 2 + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_whole_jpeg_is_told_apart() {
        assert!(inspect(b"hello").unwrap_err().contains("not a JPEG"));
        assert!(inspect(&[0xFF, 0xD8, 0xFF]).is_err());
        let photo =
            crate::verify::sample::bytes(crate::check::Sample::GreyJpeg).unwrap_or_default();
        assert!(inspect(&photo).is_ok());
        let cut = &photo[..photo.len() / 2];
        assert!(inspect(cut).unwrap_err().contains("cut off"));
    }
}
