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
        }
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
        // The JSON the shell decodes as vigil_app::DraftInput.
        let json = serde_json::to_value(&input).unwrap();
        let back: vigil_app::DraftInput = serde_json::from_value(json).unwrap();
        assert_eq!(back.location.unwrap().lat, 43.6535);
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
