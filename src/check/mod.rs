//! The `checks:` section: behaviours of the lab that `labctl verify` proves, as data.
//! A check puts one object and expects what the lab's functions should make of it.
//! Also which functions an object fires (`route`): the lab's own triggers, evaluated
//! here, so validation, the local runner and failure reports agree.

mod decode;
pub mod route;
#[cfg(test)]
mod tests;
mod validate;

pub use decode::{SECTION, checks as decode};
pub use validate::{RUN_ID_LEN, checks as validate};

use crate::model::{Keys, Pos};
use crate::template::Vars;

/// The placeholder every probe key holds: a fresh id per run, so runs never collide
/// and cleanup touches only what a run made.
pub const RUN: &str = "${run}";

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Where the check's name was written.
    pub name_pos: Pos,
    pub pos: Pos,
    pub put: Put,
    pub expect: Vec<Expect>,
    pub expect_absent: Vec<Target>,
}

/// An object in one of the lab's buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub pos: Pos,
    /// Logical bucket name.
    pub bucket: String,
    /// The key with its placeholders (`${run}`).
    pub key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Put {
    pub at: Target,
    pub keys: Keys,
    pub content: Content,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A zero-byte object (a "folder" when the key ends in `/`).
    Empty,
    Text(String),
    Sample(Sample),
}

/// Generated test files (never shipped): what `sample:` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    /// A 2000x1500 RGB photo with EXIF, encoded at high quality.
    PhotoJpeg,
    /// A CMYK JPEG, as print workflows make them.
    CmykJpeg,
    /// A greyscale JPEG.
    GreyJpeg,
}

impl Sample {
    pub const ALL: &[Sample] = &[Sample::PhotoJpeg, Sample::CmykJpeg, Sample::GreyJpeg];

    /// What `sample:` calls each, in the enum's order.
    pub const NAMES: &[&str] = &["photo-jpeg", "cmyk-jpeg", "grey-jpeg"];

    pub fn name(self) -> &'static str {
        Sample::NAMES[self as usize]
    }

    pub fn parse(s: &str) -> Option<Sample> {
        Sample::ALL.iter().copied().find(|x| x.name() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub at: Target,
    pub keys: Keys,
    /// The same bytes as the put.
    pub same_as_put: bool,
    /// Exactly this text.
    pub body: Option<String>,
    /// Text the object must hold (each may use `${run}`).
    pub contains: Vec<String>,
    /// Decodes as this image format.
    pub image: Option<ImageFormat>,
    pub smaller_than_put: bool,
    /// The same width and height as the put image.
    pub same_dimensions: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
}

impl ImageFormat {
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
        }
    }
}

/// A key with `${run}` and the lab's placeholders filled in.
pub fn fill(key: &str, run: &str, vars: &Vars) -> Result<String, String> {
    vars.expand(&key.replace(RUN, run), false)
}
