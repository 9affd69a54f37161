//! H3 area cells: the unit of aggregation and the partition key of the event log.

use std::{fmt, str::FromStr};

use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};

use crate::{Location, ValidationError};

/// The resolution of the area cell that keys an incident (res 8: about 0.7 km², 460 m edge).
pub const CELL_RESOLUTION: u8 = 8;

/// An H3 cell, shown in the usual 15-digit hex form (e.g. `882b9bc4a1fffff`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AreaCell(CellIndex);

impl AreaCell {
    /// The cell at `resolution` (0 to 15) that contains `loc`.
    pub fn of(loc: &Location, resolution: u8) -> Result<AreaCell, ValidationError> {
        let res = Resolution::try_from(resolution)
            .map_err(|_| ValidationError::new("res", "must be an H3 resolution from 0 to 15"))?;
        let ll = LatLng::new(loc.lat, loc.lon)
            .map_err(|_| ValidationError::new("location", "is not a valid WGS84 coordinate"))?;
        Ok(AreaCell(ll.to_cell(res)))
    }

    /// The cell's resolution.
    pub fn resolution(self) -> u8 {
        u8::from(self.0.resolution())
    }

    /// The cell's 64-bit index.
    pub fn index(self) -> u64 {
        u64::from(self.0)
    }

    /// The cell's centre.
    pub fn centre(self) -> Location {
        let ll = LatLng::from(self.0);
        Location {
            lat: ll.lat(),
            lon: ll.lng(),
            accuracy_m: None,
        }
    }

    /// The cell containing this one at a coarser resolution, if `resolution` is coarser.
    pub fn parent(self, resolution: u8) -> Option<AreaCell> {
        let res = Resolution::try_from(resolution).ok()?;
        self.0.parent(res).map(AreaCell)
    }
}

impl fmt::Display for AreaCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for AreaCell {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<CellIndex>()
            .map(AreaCell)
            .map_err(|_| ValidationError::new("cell", format!("{s:?} is not an H3 cell id")))
    }
}

impl TryFrom<String> for AreaCell {
    type Error = ValidationError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<AreaCell> for String {
    fn from(c: AreaCell) -> String {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toronto_city_hall_cell() {
        let loc = Location {
            lat: 43.6534,
            lon: -79.3841,
            accuracy_m: None,
        };
        let cell = AreaCell::of(&loc, CELL_RESOLUTION).unwrap();
        assert_eq!(cell.resolution(), 8);
        let text = cell.to_string();
        assert_eq!(text.len(), 15);
        assert_eq!(text.parse::<AreaCell>().unwrap(), cell);
        // The centre lies within a cell's edge length (about 530 m at res 8) of the point.
        let c = cell.centre();
        assert!((c.lat - loc.lat).abs() < 0.01 && (c.lon - loc.lon).abs() < 0.01);
        let parent = cell.parent(5).unwrap();
        assert_eq!(parent, AreaCell::of(&loc, 5).unwrap());
    }

    #[test]
    fn bad_resolution_and_text_are_errors() {
        let loc = Location {
            lat: 43.0,
            lon: -79.0,
            accuracy_m: None,
        };
        assert_eq!(AreaCell::of(&loc, 16).unwrap_err().field, "res");
        assert_eq!("zzz".parse::<AreaCell>().unwrap_err().field, "cell");
    }
}
