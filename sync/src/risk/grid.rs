//! The cells risk is counted in: a square grid over a bounding box (the analysts' CLI and
//! its evaluation) or H3 cells (the batch layer and the devices, anywhere on Earth).

use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A cell's id in its grid: `j·nx + i` for a square grid, the 64-bit index for H3.
pub type CellId = u64;

/// Metres per degree of latitude, the constant of the square grid's definition.
pub const METRES_PER_DEGREE: f64 = 111_320.0;

/// How a grid is built; kept in a model's manifest so features are counted the same way
/// when the model is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GridSpec {
    /// Square cells of `cell_m` metres over `bbox` (min lon, min lat, max lon, max lat).
    Square { bbox: [f64; 4], cell_m: f64 },
    /// H3 cells at `resolution`.
    H3 { resolution: u8 },
}

impl GridSpec {
    pub fn build(&self) -> Result<CellGrid, ValidationError> {
        match *self {
            GridSpec::Square { bbox, cell_m } => {
                SquareGrid::new(bbox, cell_m).map(CellGrid::Square)
            }
            GridSpec::H3 { resolution } => {
                let res = Resolution::try_from(resolution).map_err(|_| {
                    ValidationError::new("grid.resolution", "must be an H3 resolution from 0 to 15")
                })?;
                Ok(CellGrid::H3(res))
            }
        }
    }

    /// The cell size in words, e.g. `250 m squares` or `H3 resolution 9`.
    pub fn describe(&self) -> String {
        match self {
            GridSpec::Square { cell_m, .. } => format!("{cell_m} m squares"),
            GridSpec::H3 { resolution } => format!("H3 resolution {resolution}"),
        }
    }
}

/// A grid of cells with neighbour rings.
#[derive(Debug, Clone)]
pub enum CellGrid {
    Square(SquareGrid),
    H3(Resolution),
}

impl CellGrid {
    pub fn spec(&self) -> GridSpec {
        match self {
            CellGrid::Square(g) => GridSpec::Square {
                bbox: g.bbox,
                cell_m: g.cell_m,
            },
            CellGrid::H3(res) => GridSpec::H3 {
                resolution: u8::from(*res),
            },
        }
    }

    /// The cell containing the point, or `None` outside the grid (or not a coordinate).
    pub fn cell(&self, lat: f64, lon: f64) -> Option<CellId> {
        match self {
            CellGrid::Square(g) => g.cell(lat, lon),
            CellGrid::H3(res) => LatLng::new(lat, lon)
                .ok()
                .map(|ll| u64::from(ll.to_cell(*res))),
        }
    }

    /// Appends the cells at exactly `k` steps from `cell` (k ≥ 1): 8k squares (fewer at the
    /// grid's edge) or 6k hexagons.
    pub fn ring(&self, cell: CellId, k: u32, out: &mut Vec<CellId>) {
        match self {
            CellGrid::Square(g) => g.ring(cell, k, out),
            CellGrid::H3(_) => {
                let Ok(index) = CellIndex::try_from(cell) else {
                    return;
                };
                let disk: Vec<(CellIndex, u32)> = index.grid_disk_distances(k);
                out.extend(
                    disk.into_iter()
                        .filter(|&(_, d)| d == k)
                        .map(|(c, _)| u64::from(c)),
                );
            }
        }
    }
}

/// The square grid of the evaluation protocol: cell (i, j) spans longitudes
/// `min_lon + i·dlon .. min_lon + (i+1)·dlon` and latitudes `min_lat + j·dlat .. min_lat +
/// (j+1)·dlat`, with `dlat = cell_m / 111320` and `dlon = cell_m / (111320 · cos(centre
/// latitude))`; enough columns and rows to cover the box.
#[derive(Debug, Clone, PartialEq)]
pub struct SquareGrid {
    pub bbox: [f64; 4],
    pub cell_m: f64,
    pub dlon: f64,
    pub dlat: f64,
    pub nx: u64,
    pub ny: u64,
}

/// The most cells a square grid may have (a 250 m grid over 300 × 300 km).
pub const MAX_SQUARE_CELLS: u64 = 2_000_000;

impl SquareGrid {
    pub fn new(bbox: [f64; 4], cell_m: f64) -> Result<SquareGrid, ValidationError> {
        let [min_lon, min_lat, max_lon, max_lat] = bbox;
        let in_range = |v: f64, limit: f64| v.is_finite() && v.abs() <= limit;
        if !(in_range(min_lon, 180.0) && in_range(max_lon, 180.0) && min_lon < max_lon) {
            return Err(ValidationError::new(
                "bbox",
                "longitudes must be between -180 and 180 with MINLON < MAXLON (MINLON,MINLAT,MAXLON,MAXLAT)",
            ));
        }
        if !(in_range(min_lat, 85.0) && in_range(max_lat, 85.0) && min_lat < max_lat) {
            return Err(ValidationError::new(
                "bbox",
                "latitudes must be between -85 and 85 with MINLAT < MAXLAT (MINLON,MINLAT,MAXLON,MAXLAT)",
            ));
        }
        if !(cell_m.is_finite() && (10.0..=100_000.0).contains(&cell_m)) {
            return Err(ValidationError::new(
                "cell_m",
                "must be between 10 and 100000 metres",
            ));
        }
        let dlat = cell_m / METRES_PER_DEGREE;
        let dlon = cell_m / (METRES_PER_DEGREE * ((min_lat + max_lat) / 2.0).to_radians().cos());
        let nx = ((max_lon - min_lon) / dlon).ceil() as u64;
        let ny = ((max_lat - min_lat) / dlat).ceil() as u64;
        if nx.saturating_mul(ny) > MAX_SQUARE_CELLS {
            return Err(ValidationError::new(
                "cell_m",
                format!(
                    "gives {nx} × {ny} cells, more than {MAX_SQUARE_CELLS}; use larger cells or a smaller box"
                ),
            ));
        }
        Ok(SquareGrid {
            bbox,
            cell_m,
            dlon,
            dlat,
            nx,
            ny,
        })
    }

    /// How many cells the grid has.
    pub fn len(&self) -> u64 {
        self.nx * self.ny
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn cell(&self, lat: f64, lon: f64) -> Option<CellId> {
        let [min_lon, min_lat, max_lon, max_lat] = self.bbox;
        if !(lon >= min_lon && lon < max_lon && lat >= min_lat && lat < max_lat) {
            return None;
        }
        let i = ((lon - min_lon) / self.dlon) as u64;
        let j = ((lat - min_lat) / self.dlat) as u64;
        (i < self.nx && j < self.ny).then_some(j * self.nx + i)
    }

    /// The centre of a cell as (lat, lon).
    pub fn centre(&self, cell: CellId) -> (f64, f64) {
        let (i, j) = (cell % self.nx, cell / self.nx);
        (
            self.bbox[1] + (j as f64 + 0.5) * self.dlat,
            self.bbox[0] + (i as f64 + 0.5) * self.dlon,
        )
    }

    fn ring(&self, cell: CellId, k: u32, out: &mut Vec<CellId>) {
        let (i, j) = ((cell % self.nx) as i64, (cell / self.nx) as i64);
        let k = i64::from(k);
        for dj in -k..=k {
            for di in -k..=k {
                if di.abs().max(dj.abs()) != k {
                    continue;
                }
                let (x, y) = (i + di, j + dj);
                if x >= 0 && y >= 0 && (x as u64) < self.nx && (y as u64) < self.ny {
                    out.push(y as u64 * self.nx + x as u64);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_grid_follows_the_protocol() {
        let g = SquareGrid::new([-79.64, 43.58, -79.11, 43.86], 250.0).unwrap();
        assert_eq!((g.nx, g.ny), (171, 125));
        assert!((g.dlat - 250.0 / 111_320.0).abs() < 1e-15);
        assert!((g.dlon - 0.003_107_4).abs() < 1e-6);
        // The south-west corner is cell 0; one column east is cell 1; one row north is nx.
        assert_eq!(g.cell(43.58, -79.64), Some(0));
        assert_eq!(g.cell(43.58 + 1e-9, -79.64 + g.dlon * 1.5), Some(1));
        assert_eq!(g.cell(43.58 + g.dlat * 1.5, -79.64 + 1e-9), Some(171));
        assert_eq!(g.cell(43.86, -79.2), None, "the north edge is outside");
        assert_eq!(g.cell(43.7, -80.0), None);
        assert_eq!(g.cell(f64::NAN, -79.5), None);
        let (lat, lon) = g.centre(171 + 1);
        assert!((lat - (43.58 + 1.5 * g.dlat)).abs() < 1e-12);
        assert!((lon - (-79.64 + 1.5 * g.dlon)).abs() < 1e-12);
    }

    #[test]
    fn square_rings_stop_at_the_edge() {
        let g = SquareGrid::new([0.0, 0.0, 0.1, 0.1], 1000.0).unwrap();
        let grid = CellGrid::Square(g.clone());
        let mut out = Vec::new();
        let middle = 5 * g.nx + 5;
        grid.ring(middle, 1, &mut out);
        assert_eq!(out.len(), 8);
        out.clear();
        grid.ring(middle, 2, &mut out);
        assert_eq!(out.len(), 16);
        out.clear();
        grid.ring(0, 1, &mut out);
        out.sort_unstable();
        assert_eq!(out, vec![1, g.nx, g.nx + 1]);
    }

    #[test]
    fn h3_rings_have_six_k_cells() {
        let grid = GridSpec::H3 { resolution: 9 }.build().unwrap();
        let cell = grid.cell(43.65, -79.38).unwrap();
        let mut out = Vec::new();
        grid.ring(cell, 1, &mut out);
        assert_eq!(out.len(), 6);
        assert!(!out.contains(&cell));
        out.clear();
        grid.ring(cell, 2, &mut out);
        assert_eq!(out.len(), 12);
    }

    #[test]
    fn bad_grids_name_the_field() {
        let e = SquareGrid::new([-79.0, 43.0, -80.0, 44.0], 250.0).unwrap_err();
        assert_eq!(e.field, "bbox");
        let e = SquareGrid::new([-79.0, 43.0, -78.0, 44.0], 0.5).unwrap_err();
        assert_eq!(e.field, "cell_m");
        let e = SquareGrid::new([-170.0, -80.0, 170.0, 80.0], 10.0).unwrap_err();
        assert!(e.reason.contains("more than"), "{e:?}");
        let e = GridSpec::H3 { resolution: 16 }.build().unwrap_err();
        assert_eq!(e.field, "grid.resolution");
    }
}
