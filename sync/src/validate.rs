//! The rules a report must pass before the backend accepts it.
//!
//! Each error names the offending field (as it is spelt on the wire, with a dotted path
//! for nested fields) and says what to do about it.

use chrono::{DateTime, FixedOffset, SubsecRound, TimeDelta, Utc};
use unicode_normalization::UnicodeNormalization;

use crate::{Category, IncidentId, Location, Report, ReportSubmission, incident::Audience};

/// Longest description, in Unicode scalar values after NFC normalisation.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// Longest place text, in Unicode scalar values after NFC normalisation.
pub const MAX_PLACE_CHARS: usize = 200;
/// Largest stated accuracy radius we accept, in metres.
pub const MAX_ACCURACY_M: f64 = 50_000.0;

/// A report failed a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The wire name of the field, e.g. `location.lat`.
    pub field: String,
    /// What is wrong and what to do instead.
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Time limits for user reports; the backend's config sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How far past `now` an occurrence time may be (clock skew on devices).
    pub max_future: TimeDelta,
    /// How old a user report's occurrence may be.
    pub max_age: TimeDelta,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_future: TimeDelta::minutes(5),
            max_age: TimeDelta::days(365),
        }
    }
}

impl ReportSubmission {
    /// Checks a resident's report and returns it normalised.
    pub fn validate(&self, now: DateTime<Utc>, limits: &Limits) -> Result<Report, ValidationError> {
        let id: IncidentId = self.id.parse().map_err(|_| {
            ValidationError::new(
                "id",
                "must be a UUID such as 0192f0c1-7e6a-7cc2-9d3e-5b1f3a2c4d5e",
            )
        })?;
        if id.version() != 7 {
            return Err(ValidationError::new(
                "id",
                format!(
                    "must be a UUIDv7 made on the device when the report is submitted (got version {})",
                    id.version()
                ),
            ));
        }
        let category = parse_category(&self.category)?;
        let occurred_at = parse_time("occurred_at", &self.occurred_at)?;
        check_not_future(occurred_at, now, limits.max_future)?;
        if now.signed_duration_since(occurred_at) > limits.max_age {
            return Err(ValidationError::new(
                "occurred_at",
                format!(
                    "is more than {} days ago; reports must be about recent events",
                    limits.max_age.num_days()
                ),
            ));
        }
        check_location(&self.location)?;
        let place = normalise_place(self.place.as_deref())?;
        let description = normalise_text("description", &self.description, MAX_DESCRIPTION_CHARS)?;
        if description.trim().is_empty() {
            return Err(ValidationError::new(
                "description",
                "must not be empty; say briefly what happened",
            ));
        }
        let audience = self.audience()?;
        Ok(Report {
            id,
            category,
            occurred_at,
            location: self.location,
            place,
            description,
            audience,
        })
    }

    /// The group, visibility and anonymity the report asks for.
    fn audience(&self) -> Result<Audience, ValidationError> {
        let group = self
            .group
            .as_deref()
            .map(|g| {
                g.trim().parse::<uuid::Uuid>().map_err(|_| {
                    ValidationError::new(
                        "group",
                        "must be a group id (a UUID) from GET /v1/groups; leave it out to report to no group",
                    )
                })
            })
            .transpose()?;
        let private = match self.visibility.as_deref().map(str::trim) {
            None | Some("public") => false,
            Some("group") => true,
            Some(other) => {
                return Err(ValidationError::new(
                    "visibility",
                    format!("{other:?} is not a visibility; use \"public\" or \"group\""),
                ));
            }
        };
        if private && group.is_none() {
            return Err(ValidationError::new(
                "visibility",
                "\"group\" needs the group's id in \"group\"; or make the report public",
            ));
        }
        Ok(Audience {
            group,
            private,
            anonymous: self.anonymous,
        })
    }
}

impl Report {
    /// Checks a public feed record that a connector has mapped. Feed records may be old
    /// and may have no description, but the place, time and text rules are the same.
    pub fn from_feed(
        id: IncidentId,
        category: Category,
        occurred_at: DateTime<FixedOffset>,
        location: Location,
        place: Option<&str>,
        description: &str,
        now: DateTime<Utc>,
    ) -> Result<Report, ValidationError> {
        let occurred_at = occurred_at.trunc_subsecs(3);
        check_not_future(occurred_at, now, Limits::default().max_future)?;
        check_location(&location)?;
        let place = normalise_place(place)?;
        let description = normalise_text("description", description, MAX_DESCRIPTION_CHARS)?;
        Ok(Report {
            id,
            category,
            occurred_at,
            location,
            place,
            description,
            audience: Audience::default(),
        })
    }
}

fn parse_category(code: &str) -> Result<Category, ValidationError> {
    code.parse().map_err(|e: crate::category::UnknownCategory| {
        ValidationError::new("category", e.to_string())
    })
}

/// Parses an RFC 3339 time, keeping millisecond precision (what every store keeps).
fn parse_time(field: &str, text: &str) -> Result<DateTime<FixedOffset>, ValidationError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.trunc_subsecs(3)).map_err(|_| {
        ValidationError::new(
            field,
            format!("{text:?} is not an RFC 3339 time with an offset, such as 2026-11-28T07:00:00-05:00"),
        )
    })
}

fn check_not_future(
    t: DateTime<FixedOffset>,
    now: DateTime<Utc>,
    max_future: TimeDelta,
) -> Result<(), ValidationError> {
    if t.signed_duration_since(now) > max_future {
        return Err(ValidationError::new(
            "occurred_at",
            format!(
                "is in the future (more than {} minutes ahead of the server's clock); check the device's clock and time zone",
                max_future.num_minutes()
            ),
        ));
    }
    Ok(())
}

/// Checks that a point is a real place: finite, in range, and not the (0, 0) "null island"
/// that a missing GPS fix produces.
pub fn check_location(loc: &Location) -> Result<(), ValidationError> {
    if !loc.lat.is_finite() || !(-90.0..=90.0).contains(&loc.lat) {
        return Err(ValidationError::new(
            "location.lat",
            "must be a number from -90 to 90 (degrees north)",
        ));
    }
    if !loc.lon.is_finite() || !(-180.0..=180.0).contains(&loc.lon) {
        return Err(ValidationError::new(
            "location.lon",
            "must be a number from -180 to 180 (degrees east)",
        ));
    }
    if loc.lat == 0.0 && loc.lon == 0.0 {
        return Err(ValidationError::new(
            "location",
            "0, 0 is where a missing position fix lands; pick the place on the map",
        ));
    }
    if let Some(acc) = loc.accuracy_m
        && (!acc.is_finite() || !(0.0..=MAX_ACCURACY_M).contains(&acc))
    {
        return Err(ValidationError::new(
            "location.accuracy_m",
            format!("must be a number of metres from 0 to {MAX_ACCURACY_M}, or left out"),
        ));
    }
    Ok(())
}

fn normalise_place(place: Option<&str>) -> Result<Option<String>, ValidationError> {
    let Some(place) = place else { return Ok(None) };
    let place = normalise_text("place", place, MAX_PLACE_CHARS)?;
    if place.contains('\n') {
        return Err(ValidationError::new("place", "must be a single line"));
    }
    let place = place.trim();
    Ok((!place.is_empty()).then(|| place.to_owned()))
}

/// NFC-normalises free text, turns CRLF into LF, and rejects control characters other than
/// newline and tab, and text longer than `max_chars` scalar values.
pub fn normalise_text(
    field: &str,
    text: &str,
    max_chars: usize,
) -> Result<String, ValidationError> {
    let text: String = text.replace("\r\n", "\n").nfc().collect();
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(ValidationError::new(
            field,
            format!(
                "contains the control character U+{:04X}; remove it",
                c as u32
            ),
        ));
    }
    let n = text.chars().count();
    if n > max_chars {
        return Err(ValidationError::new(
            field,
            format!("is {n} characters long; shorten it to at most {max_chars}"),
        ));
    }
    Ok(text)
}
