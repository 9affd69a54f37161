//! The report form's logic, apart from the view so it is tested on the host: what the
//! fields become (the draft the shell stores) and the messages shown for bad fields.
//! The server's own rules run in the client core when a draft is submitted.

use serde::Serialize;

/// The report form as typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportForm {
    pub category: String,
    /// A `datetime-local` value, `YYYY-MM-DDTHH:MM`, in the device's zone.
    pub when: String,
    /// Minutes the device's zone is ahead of UTC (`-Date.getTimezoneOffset()`).
    pub offset_minutes: i32,
    pub lat: String,
    pub lon: String,
    pub place: String,
    pub description: String,
    /// Hide who made the report.
    pub anonymous: bool,
}

/// A point on the wire (`vigil_sync::Location`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

/// What the shell's `save_draft` takes (`vigil_app::DraftInput`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DraftInput {
    pub category: Option<String>,
    pub occurred_at: Option<String>,
    pub location: Option<Location>,
    pub place: Option<String>,
    pub description: String,
    pub anonymous: bool,
}

/// A field the form cannot use, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn coordinate(text: &str, field: &'static str, limit: f64) -> Result<Option<f64>, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x.abs() <= limit => Ok(Some(x)),
        Ok(_) => Err(FieldError {
            field,
            message: format!("must be between -{limit} and {limit}"),
        }),
        Err(_) => Err(FieldError {
            field,
            message: "must be a number, like 43.6535".into(),
        }),
    }
}

/// The size a photo of `width` × `height` is resized to so that its longer side is at
/// most `longest` pixels; smaller photos keep their size. Never zero.
pub fn fit_within(width: u32, height: u32, longest: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= longest || long == 0 {
        return (width.max(1), height.max(1));
    }
    let scale = f64::from(longest) / f64::from(long);
    let side = |x: u32| ((f64::from(x) * scale).round() as u32).max(1);
    (side(width), side(height))
}

/// Coordinates as the form shows them: 6 decimals (about 10 cm), no trailing noise.
pub fn coordinate_text(x: f64) -> String {
    let text = format!("{x:.6}");
    let text = text.trim_end_matches('0');
    text.trim_end_matches('.').to_owned()
}

/// `YYYY-MM-DDTHH:MM` plus an offset as RFC 3339 (`2026-11-28T14:05:00-05:00`).
pub fn rfc3339(local: &str, offset_minutes: i32) -> Result<String, FieldError> {
    let bad = || FieldError {
        field: "when",
        message: "pick a date and time".into(),
    };
    let local = local.trim();
    let valid = local.len() >= 16
        && local.as_bytes()[4] == b'-'
        && local.as_bytes()[7] == b'-'
        && local.as_bytes()[10] == b'T'
        && local.as_bytes()[13] == b':'
        && local[..16]
            .chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13].contains(&i) || c.is_ascii_digit());
    if !valid {
        return Err(bad());
    }
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let off = offset_minutes.unsigned_abs();
    Ok(format!(
        "{}:00{sign}{:02}:{:02}",
        &local[..16],
        off / 60,
        off % 60
    ))
}

impl ReportForm {
    /// The draft to save. Blank fields stay blank (a draft may be incomplete); fields
    /// that cannot be read are errors naming the field.
    pub fn to_input(&self) -> Result<DraftInput, FieldError> {
        let lat = coordinate(&self.lat, "latitude", 90.0)?;
        let lon = coordinate(&self.lon, "longitude", 180.0)?;
        let location = match (lat, lon) {
            (Some(lat), Some(lon)) => Some(Location { lat, lon }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(FieldError {
                    field: "longitude",
                    message: "give the longitude too, or pick the place on the map".into(),
                });
            }
            (None, Some(_)) => {
                return Err(FieldError {
                    field: "latitude",
                    message: "give the latitude too, or pick the place on the map".into(),
                });
            }
        };
        let occurred_at = if self.when.trim().is_empty() {
            None
        } else {
            Some(rfc3339(&self.when, self.offset_minutes)?)
        };
        let text = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        };
        Ok(DraftInput {
            category: text(&self.category),
            occurred_at,
            location,
            place: text(&self.place),
            description: self.description.trim().to_owned(),
            anonymous: self.anonymous,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ReportForm {
        ReportForm {
            category: "theft".into(),
            when: "2026-11-28T14:05".into(),
            offset_minutes: -300,
            lat: "43.6535".into(),
            lon: " -79.384 ".into(),
            place: "".into(),
            description: " Bike taken from the rack ".into(),
            anonymous: true,
        }
    }

    #[test]
    fn photos_shrink_to_the_longest_side_and_keep_their_shape() {
        assert_eq!(fit_within(4000, 3000, 1600), (1600, 1200));
        assert_eq!(fit_within(3000, 4000, 1600), (1200, 1600));
        assert_eq!(fit_within(3000, 2000, 1600), (1600, 1067));
        assert_eq!(fit_within(800, 600, 1600), (800, 600));
        assert_eq!(fit_within(20000, 1, 1600), (1600, 1));
        assert_eq!(fit_within(0, 0, 1600), (1, 1));
    }

    #[test]
    fn coordinates_are_shown_without_noise() {
        assert_eq!(coordinate_text(43.653_500_000_01), "43.6535");
        assert_eq!(coordinate_text(-79.384), "-79.384");
        assert_eq!(coordinate_text(43.0), "43");
        assert_eq!(coordinate_text(-79.383_987_6), "-79.383988");
    }

    #[test]
    fn a_filled_form_becomes_the_draft_the_shell_stores() {
        let input = form().to_input().unwrap();
        assert_eq!(input.category.as_deref(), Some("theft"));
        assert_eq!(
            input.occurred_at.as_deref(),
            Some("2026-11-28T14:05:00-05:00")
        );
        assert_eq!(
            input.location,
            Some(Location {
                lat: 43.6535,
                lon: -79.384
            })
        );
        assert_eq!(input.place, None);
        assert_eq!(input.description, "Bike taken from the rack");
        assert!(input.anonymous);
        // The JSON the shell decodes as vigil_app::DraftInput.
        let json = serde_json::to_value(&input).unwrap();
        let back: vigil_app::DraftInput = serde_json::from_value(json).unwrap();
        assert_eq!(back.location.unwrap().lat, 43.6535);
        assert!(back.anonymous);
    }

    #[test]
    fn bad_fields_are_named_with_what_to_do() {
        let mut f = form();
        f.lat = "north".into();
        assert_eq!(
            f.to_input().unwrap_err().to_string(),
            "latitude: must be a number, like 43.6535"
        );
        f.lat = "91".into();
        assert_eq!(f.to_input().unwrap_err().field, "latitude");
        f.lat = "".into();
        assert_eq!(f.to_input().unwrap_err().field, "latitude");
        let mut f = form();
        f.when = "yesterday".into();
        assert_eq!(
            f.to_input().unwrap_err().to_string(),
            "when: pick a date and time"
        );
    }

    #[test]
    fn offsets_east_and_west_and_a_blank_draft() {
        assert_eq!(
            rfc3339("2026-01-02T03:04", 330).unwrap(),
            "2026-01-02T03:04:00+05:30"
        );
        assert_eq!(
            rfc3339("2026-01-02T03:04", 0).unwrap(),
            "2026-01-02T03:04:00+00:00"
        );
        let blank = ReportForm::default().to_input().unwrap();
        assert_eq!(
            (blank.category, blank.location, blank.occurred_at),
            (None, None, None)
        );
    }
}
