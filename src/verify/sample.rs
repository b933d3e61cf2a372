//! The files `sample:` names, generated (never shipped) and the same bytes every run:
//! a photo-like picture (smooth light, texture and edges, as a camera gives) encoded
//! at high quality with EXIF, so a compressor has real work to do.

use jpeg_encoder::{ColorType, Encoder};

use crate::check::Sample;

pub fn bytes(s: Sample) -> Result<Vec<u8>, String> {
    match s {
        Sample::PhotoJpeg => encode(2000, 1500, Colors::Rgb),
        Sample::CmykJpeg => encode(800, 600, Colors::Cmyk),
        Sample::GreyJpeg => encode(1024, 768, Colors::Grey),
    }
}

pub fn content_type(_s: Sample) -> &'static str {
    "image/jpeg"
}

#[derive(Clone, Copy)]
enum Colors {
    Rgb,
    Cmyk,
    Grey,
}

fn encode(w: u16, h: u16, colors: Colors) -> Result<Vec<u8>, String> {
    let (width, height) = (usize::from(w), usize::from(h));
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let channels = match colors {
        Colors::Rgb => 3,
        Colors::Cmyk => 4,
        Colors::Grey => 1,
    };
    let mut px = Vec::with_capacity(width * height * channels);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
            // Sky to ground, a sun, and a hill edge: gradients and one sharp line.
            let sun = 1.0 - (((fx - 0.7).powi(2) + (fy - 0.3).powi(2)).sqrt() * 4.0).min(1.0);
            let ground = fy > 0.62 + 0.08 * (fx * 9.0).sin();
            let grain = (rng.next() % 24) as f32 - 12.0;
            let (r, g, b) = if ground {
                (70.0 + 40.0 * fx, 110.0 + 30.0 * fy, 50.0)
            } else {
                (120.0 + 120.0 * sun, 160.0 + 80.0 * sun, 230.0 - 60.0 * fy)
            };
            let c = |v: f32| (v + grain).clamp(0.0, 255.0) as u8;
            match colors {
                Colors::Rgb => px.extend([c(r), c(g), c(b)]),
                Colors::Grey => px.push(c(0.299 * r + 0.587 * g + 0.114 * b)),
                Colors::Cmyk => {
                    let k = 255.0 - r.max(g).max(b);
                    px.extend([c(255.0 - r - k), c(255.0 - g - k), c(255.0 - b - k), c(k)]);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, 95);
    if let Colors::Rgb = colors {
        enc.add_exif_metadata(&exif()).map_err(|e| e.to_string())?;
    }
    let ct = match colors {
        Colors::Rgb => ColorType::Rgb,
        Colors::Cmyk => ColorType::Cmyk,
        Colors::Grey => ColorType::Luma,
    };
    enc.encode(&px, w, h, ct).map_err(|e| e.to_string())?;
    Ok(out)
}

/// A small TIFF-structured EXIF block: camera make and model, orientation 1 (upright)
/// and a date, as a phone writes them.
fn exif() -> Vec<u8> {
    let ascii: [(u16, &[u8]); 3] = [
        (0x010F, b"labctl\0"),
        (0x0110, b"sample camera\0"),
        (0x0132, b"2026:01:01 12:00:00\0"),
    ];
    let entries = ascii.len() + 1;
    let ifd_len = 2 + entries * 12 + 4;
    let mut data_off = 8 + ifd_len;
    let mut t = Vec::new();
    t.extend_from_slice(b"II*\0");
    t.extend_from_slice(&8u32.to_le_bytes());
    t.extend_from_slice(&(entries as u16).to_le_bytes());
    let mut values = Vec::new();
    for (tag, v) in ascii.iter().take(2) {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&2u16.to_le_bytes());
        t.extend_from_slice(&(v.len() as u32).to_le_bytes());
        t.extend_from_slice(&(data_off as u32).to_le_bytes());
        values.extend_from_slice(v);
        data_off += v.len();
    }
    // Orientation (SHORT), in the entry itself; tags stay in ascending order.
    t.extend_from_slice(&0x0112u16.to_le_bytes());
    t.extend_from_slice(&3u16.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    let (tag, v) = ascii[2];
    t.extend_from_slice(&tag.to_le_bytes());
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&(v.len() as u32).to_le_bytes());
    t.extend_from_slice(&(data_off as u32).to_le_bytes());
    values.extend_from_slice(v);
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&values);
    t
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::jpeg;

    #[test]
    fn samples_are_the_jpegs_they_are_named_for() {
        let photo = bytes(Sample::PhotoJpeg).unwrap_or_default();
        let i = jpeg::inspect(&photo).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((i.width, i.height, i.components), (2000, 1500, 3));
        assert!(i.exif, "the photo carries EXIF");
        assert!(
            photo.len() > 300_000,
            "a photo, not a flat colour: {} bytes",
            photo.len()
        );
        let cmyk = jpeg::inspect(&bytes(Sample::CmykJpeg).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((cmyk.width, cmyk.height, cmyk.components), (800, 600, 4));
        let grey = jpeg::inspect(&bytes(Sample::GreyJpeg).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(grey.components, 1);
        assert_eq!(
            photo,
            bytes(Sample::PhotoJpeg).unwrap_or_default(),
            "the same bytes every run"
        );
    }
}
