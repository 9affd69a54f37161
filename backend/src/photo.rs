//! Photo metadata removal. A phone's photo carries where it was taken (EXIF GPS), when, the
//! camera's serial number and often a thumbnail; none of it may reach other people. The
//! file is rewritten without those parts, the image data untouched, so nothing is
//! decoded or re-encoded.
//!
//! - JPEG: the segments before the image data are kept only if they describe how to decode
//!   it (tables, frame headers, restart intervals, `APP0` JFIF, `APP2` ICC profiles,
//!   `APP14` Adobe colour transform); EXIF and XMP (`APP1`), other application segments
//!   and comments go. Everything from the start of scan on is copied as is.
//! - PNG: the chunks a decoder needs stay; `eXIf`, the text chunks (`tEXt`, `zTXt`,
//!   `iTXt`) and `tIME` go. Each kept chunk's CRC is checked.

/// What a photo is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoKind {
    Jpeg,
    Png,
}

impl PhotoKind {
    pub const fn content_type(self) -> &'static str {
        match self {
            PhotoKind::Jpeg => "image/jpeg",
            PhotoKind::Png => "image/png",
        }
    }
}

/// Why a file cannot be taken as a photo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadPhoto(pub String);

fn bad(what: impl Into<String>) -> BadPhoto {
    BadPhoto(what.into())
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// The photo without its metadata, and its kind.
pub fn strip_metadata(bytes: &[u8]) -> Result<(PhotoKind, Vec<u8>), BadPhoto> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        Ok((PhotoKind::Jpeg, strip_jpeg(bytes)?))
    } else if bytes.starts_with(PNG_SIGNATURE) {
        Ok((PhotoKind::Png, strip_png(bytes)?))
    } else {
        Err(bad(
            "is neither a JPEG nor a PNG; send the photo as one of those",
        ))
    }
}

/// Whether a JPEG segment with `marker` (and its payload) is kept.
fn keep_jpeg_segment(marker: u8, payload: &[u8]) -> bool {
    match marker {
        // APP0 (JFIF/JFXX), APP14 (Adobe: the colour transform matters to decoders).
        0xE0 | 0xEE => true,
        // APP2 only for an ICC profile (FlashPix and MPF thumbnails go).
        0xE2 => payload.starts_with(b"ICC_PROFILE\0"),
        // Every other APPn (APP1: EXIF, XMP) and COM.
        0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
        // Tables, frame headers, DRI, DNL and the rest a decoder reads.
        _ => true,
    }
}

fn strip_jpeg(bytes: &[u8]) -> Result<Vec<u8>, BadPhoto> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..2]);
    let mut at = 2;
    loop {
        // Markers may be padded with any number of 0xFF bytes.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return Err(bad(
                "is a damaged JPEG (no marker where one must be); export it again",
            ));
        };
        match marker {
            // Start of scan: its header, then the entropy-coded data to the end, as is.
            0xDA => {
                out.extend_from_slice(&bytes[at..]);
                return Ok(out);
            }
            0xD9 => return Err(bad("is a JPEG without image data")),
            // Standalone markers carry no length.
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&bytes[at..at + 2]);
                at += 2;
            }
            _ => {
                let len = match (bytes.get(at + 2), bytes.get(at + 3)) {
                    (Some(&hi), Some(&lo)) => usize::from(u16::from_be_bytes([hi, lo])),
                    _ => return Err(bad("is a truncated JPEG; export it again")),
                };
                let end = at + 2 + len;
                if len < 2 || end > bytes.len() {
                    return Err(bad("is a damaged JPEG (a segment runs past the end)"));
                }
                if keep_jpeg_segment(marker, &bytes[at + 4..end]) {
                    out.extend_from_slice(&bytes[at..end]);
                }
                at = end;
            }
        }
    }
}

/// PNG chunk types that carry metadata rather than the image.
const PNG_DROPPED: [&[u8; 4]; 5] = [b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"];

fn strip_png(bytes: &[u8]) -> Result<Vec<u8>, BadPhoto> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(PNG_SIGNATURE);
    let mut at = PNG_SIGNATURE.len();
    let mut seen_end = false;
    while at < bytes.len() {
        let header = bytes
            .get(at..at + 8)
            .ok_or_else(|| bad("is a truncated PNG; export it again"))?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind: [u8; 4] = [header[4], header[5], header[6], header[7]];
        let end = at
            .checked_add(12)
            .and_then(|n| n.checked_add(len))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad("is a damaged PNG (a chunk runs past the end)"))?;
        let crc_stored = u32::from_be_bytes(
            bytes[end - 4..end]
                .try_into()
                .map_err(|_| bad("is a damaged PNG"))?,
        );
        if crc32(&bytes[at + 4..end - 4]) != crc_stored {
            return Err(bad(format!(
                "is a damaged PNG (chunk {} fails its checksum)",
                String::from_utf8_lossy(&kind)
            )));
        }
        if !PNG_DROPPED.contains(&&kind) {
            out.extend_from_slice(&bytes[at..end]);
        }
        at = end;
        if &kind == b"IEND" {
            seen_end = true;
            break;
        }
    }
    if !seen_end {
        return Err(bad("is a truncated PNG (no IEND chunk); export it again"));
    }
    Ok(out)
}

/// CRC-32 (ISO-HDLC, as PNG uses), bitwise: photos are a few MB at most.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() + 2) as u16;
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&len.to_be_bytes());
        s.extend_from_slice(payload);
        s
    }

    /// A JPEG's structure with EXIF (GPS), XMP, a comment and an ICC profile around
    /// real-looking tables and scan data.
    pub(crate) fn jpeg_with_metadata() -> (Vec<u8>, Vec<u8>) {
        let mut exif = b"Exif\0\0MM\0*GPSLatitude 43.6532 N GPSLongitude 79.3832 W".to_vec();
        exif.extend_from_slice(&[0u8; 16]);
        let scan: Vec<u8> = [
            segment(0xDA, &[1, 1, 0, 0, 63, 0]),
            vec![0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD9],
        ]
        .concat();
        let file = [
            vec![0xFF, 0xD8],
            segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"),
            segment(0xE1, &exif),
            segment(
                0xE1,
                b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>Toronto</x:xmpmeta>",
            ),
            segment(0xE2, b"ICC_PROFILE\0\x01\x01profile"),
            segment(0xE2, b"MPF\0thumbnail"),
            segment(0xFE, b"taken at 12 Elm St"),
            segment(0xDB, &[0; 65]),
            segment(0xC0, &[8, 0, 16, 0, 16, 1, 1, 0x11, 0]),
            segment(0xC4, &[0; 20]),
            scan.clone(),
        ]
        .concat();
        let expected = [
            vec![0xFF, 0xD8],
            segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"),
            segment(0xE2, b"ICC_PROFILE\0\x01\x01profile"),
            segment(0xDB, &[0; 65]),
            segment(0xC0, &[8, 0, 16, 0, 16, 1, 1, 0x11, 0]),
            segment(0xC4, &[0; 20]),
            scan,
        ]
        .concat();
        (file, expected)
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let crc = crc32(&c[4..]);
        c.extend_from_slice(&crc.to_be_bytes());
        c
    }

    pub(crate) fn png_with_metadata() -> (Vec<u8>, Vec<u8>) {
        let ihdr = chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
        let idat = chunk(b"IDAT", &[0x78, 0x9C, 0x63, 0x60, 0, 0, 0, 4, 0, 1]);
        let iend = chunk(b"IEND", &[]);
        let file = [
            PNG_SIGNATURE.to_vec(),
            ihdr.clone(),
            chunk(b"eXIf", b"MM\0*GPS 43.65,-79.38"),
            chunk(b"tEXt", b"Comment\0my house"),
            chunk(b"tIME", &[7, 234, 11, 28, 12, 0, 0]),
            idat.clone(),
            chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x/>"),
            iend.clone(),
        ]
        .concat();
        let expected = [PNG_SIGNATURE.to_vec(), ihdr, idat, iend].concat();
        (file, expected)
    }

    #[test]
    fn jpeg_metadata_goes_and_the_image_stays() {
        let (file, expected) = jpeg_with_metadata();
        let (kind, out) = strip_metadata(&file).unwrap();
        assert_eq!(kind, PhotoKind::Jpeg);
        assert_eq!(out, expected);
        let text = String::from_utf8_lossy(&out);
        for gone in ["Exif", "GPS", "xmpmeta", "Elm St", "MPF"] {
            assert!(!text.contains(gone), "{gone}");
        }
        // Stripping twice changes nothing more.
        assert_eq!(strip_metadata(&out).unwrap().1, out);
    }

    #[test]
    fn png_metadata_goes_and_the_image_stays() {
        let (file, expected) = png_with_metadata();
        let (kind, out) = strip_metadata(&file).unwrap();
        assert_eq!(kind, PhotoKind::Png);
        assert_eq!(out, expected);
        assert_eq!(crc32(b"IEND"), 0xAE42_6082, "the CRC of PNG's IEND chunk");
    }

    #[test]
    fn damaged_files_are_refused_with_a_reason() {
        let (jpeg, _) = jpeg_with_metadata();
        let (png, _) = png_with_metadata();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"GIF89a".to_vec(), "neither a JPEG nor a PNG"),
            (jpeg[..40].to_vec(), "JPEG"),
            (vec![0xFF, 0xD8, 0xFF, 0xD9], "without image data"),
            (png[..30].to_vec(), "PNG"),
            (
                {
                    let mut p = png.clone();
                    p[20] ^= 1;
                    p
                },
                "checksum",
            ),
        ];
        for (bytes, needle) in cases {
            let err = strip_metadata(&bytes).unwrap_err();
            assert!(err.0.contains(needle), "{err} should mention {needle}");
        }
    }
}
