//! What a public view may show of an incident's place.
//!
//! Public views never show where a report was made to the metre: the location is moved to
//! the centre of the H3 cell that holds it: resolution 9 (about 0.1 km², a 174 m edge) for
//! most categories, resolution 7 (about 5 km², a 1.2 km edge) for the sensitive ones, where
//! a precise point could lead to a victim's door. The accuracy and the typed place of a
//! resident's report go too, since either can narrow the place down again.

use crate::{AreaCell, Category, Incident, Location, Source};

/// The H3 resolution public views snap most categories to.
pub const PUBLIC_RESOLUTION: u8 = 9;
/// The coarser resolution for [`is_sensitive`] categories.
pub const SENSITIVE_RESOLUTION: u8 = 7;
/// The farthest a snapped location can be from the true one, in metres (a resolution-7
/// cell's centre to its farthest vertex is under 1.6 km anywhere on Earth).
pub const MAX_SNAP_M: f64 = 1_600.0;

/// Categories whose precise place could identify a victim.
pub const fn is_sensitive(category: Category) -> bool {
    matches!(category, Category::Assault | Category::Harassment)
}

/// The resolution public views snap `category` to.
pub const fn public_resolution(category: Category) -> u8 {
    if is_sensitive(category) {
        SENSITIVE_RESOLUTION
    } else {
        PUBLIC_RESOLUTION
    }
}

/// `location` as a public view shows an incident of `category`: the centre of its cell,
/// with no accuracy. A location that is not a valid coordinate is returned unchanged
/// (validation refuses those before anything is stored).
pub fn snap(location: &Location, category: Category) -> Location {
    match AreaCell::of(location, public_resolution(category)) {
        Ok(cell) => cell.centre(),
        Err(_) => *location,
    }
}

/// `incident` as a public view shows it: its location snapped, and for a resident's report
/// the typed place left out. Feed incidents keep their place, which their source already
/// published.
pub fn public_view(mut incident: Incident) -> Incident {
    incident.location = snap(&incident.location, incident.category);
    if matches!(incident.source, Source::UserReport) {
        incident.place = None;
    }
    incident
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64) -> Location {
        Location {
            lat,
            lon,
            accuracy_m: Some(5.0),
        }
    }

    #[test]
    fn nearby_points_snap_to_one_centre_and_sensitive_ones_coarser() {
        let a = at(43.653_20, -79.383_20);
        let b = at(43.653_25, -79.383_15);
        let (sa, sb) = (snap(&a, Category::Theft), snap(&b, Category::Theft));
        assert_eq!(sa, sb, "points 7 m apart share a resolution-9 cell");
        assert_eq!(sa.accuracy_m, None);
        assert!(a.distance_m(&sa) < 250.0, "{}", a.distance_m(&sa));
        let sensitive = snap(&a, Category::Assault);
        assert_eq!(
            AreaCell::of(&sensitive, SENSITIVE_RESOLUTION).unwrap(),
            AreaCell::of(&a, SENSITIVE_RESOLUTION).unwrap()
        );
        assert_ne!(sensitive, sa);
        assert!(a.distance_m(&sensitive) < MAX_SNAP_M);
    }

    #[test]
    fn snapping_is_idempotent_and_bounded_everywhere() {
        for (lat, lon) in [
            (43.65, -79.38),
            (51.5, -0.12),
            (-33.9, 151.2),
            (64.1, -21.9),
            (0.1, 0.1),
        ] {
            for category in [Category::Theft, Category::Harassment] {
                let p = at(lat, lon);
                let s = snap(&p, category);
                assert_eq!(snap(&s, category), s);
                assert!(p.distance_m(&s) < MAX_SNAP_M, "{lat},{lon}");
            }
        }
    }
}
