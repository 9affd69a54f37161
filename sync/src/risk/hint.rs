//! Turning a cell's expected incidents into a hint a resident can read: a level relative
//! to the city, the usual kinds of incident, and a plain reason. Worded to inform, not to
//! alarm: it speaks of past reports, never of danger or of the person asking.

use chrono::{Datelike, NaiveDateTime, Timelike, Weekday};
use serde::{Deserialize, Serialize};

use super::features::{CellStats, HOURS_PER_WEEK, hour_of_week};
use crate::Category;

/// How the place compares with the city at this hour of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RiskLevel {
    /// Under half the typical level.
    Low,
    /// From half to twice the typical level.
    Usual,
    /// Two to five times the typical level.
    Elevated,
    /// Five times the typical level or more.
    High,
}

impl RiskLevel {
    /// The level of a ratio to the city's typical level.
    pub fn of_ratio(ratio: f32) -> RiskLevel {
        if ratio < 0.5 {
            RiskLevel::Low
        } else if ratio < 2.0 {
            RiskLevel::Usual
        } else if ratio < 5.0 {
            RiskLevel::Elevated
        } else {
            RiskLevel::High
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            RiskLevel::Low => "Lower than usual",
            RiskLevel::Usual => "Usual",
            RiskLevel::Elevated => "Elevated",
            RiskLevel::High => "High",
        }
    }
}

/// The city's yardstick, computed when the model is trained and kept in its manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CityReference {
    /// The median expected incidents per horizon over the cells with at least one incident
    /// in the year before training ended.
    pub median_expected: f32,
    /// The city's share of incidents in each hour of the week (168 numbers summing to 1).
    pub hours: Vec<f32>,
    /// How many cells the median is over.
    pub cells: u32,
}

impl CityReference {
    /// The reference from the expected counts of the active cells and every incident's hour
    /// of the week.
    pub fn new(mut expected: Vec<f32>, hour_counts: &[u64; HOURS_PER_WEEK]) -> CityReference {
        expected.retain(|v| v.is_finite());
        expected.sort_unstable_by(f32::total_cmp);
        let median_expected = match expected.len() {
            0 => 0.0,
            n if n % 2 == 1 => expected[n / 2],
            n => (expected[n / 2 - 1] + expected[n / 2]) / 2.0,
        };
        let total: u64 = hour_counts.iter().sum();
        let hours = hour_counts
            .iter()
            .map(|&n| {
                if total == 0 {
                    1.0 / HOURS_PER_WEEK as f32
                } else {
                    // Laplace-smoothed so no hour is ever zero.
                    (n as f32 + 1.0) / (total as f32 + HOURS_PER_WEEK as f32)
                }
            })
            .collect();
        CityReference {
            median_expected,
            hours,
            cells: expected.len() as u32,
        }
    }
}

/// One kind of incident and its share of a place's recent incidents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryShare {
    pub category: Category,
    /// From 0 to 1.
    pub share: f32,
}

/// What the device says about a place and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskHint {
    pub level: RiskLevel,
    /// Expected incidents at this hour of the week relative to the city's typical cell.
    pub ratio: f32,
    /// The model's expected incidents in the cell over its horizon (a week).
    pub expected: f32,
    /// The most common kinds of incident nearby in the past year, most common first.
    pub top_categories: Vec<CategoryShare>,
    /// One or two sentences for people.
    pub reason: String,
    /// The model that gave the hint.
    pub model_version: String,
}

/// How much the city's hour-of-week profile weighs in a cell's own (in incidents): a cell
/// with few incidents follows the city, one with hundreds follows its own.
const PRIOR_WEIGHT: f32 = 24.0;

/// The hint for a cell whose model expectation is `expected`, at local time `at`.
pub fn hint(
    expected: f32,
    stats: Option<&CellStats>,
    city: &CityReference,
    at: NaiveDateTime,
    model_version: &str,
) -> RiskHint {
    let h = usize::from(hour_of_week(at)) % HOURS_PER_WEEK;
    let city_share = city
        .hours
        .get(h)
        .copied()
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0 / HOURS_PER_WEEK as f32);
    let (own_here, own_total) = stats.map_or((0.0, 0.0), |s| {
        (
            s.hours.get(h).copied().unwrap_or(0) as f32,
            s.hours.iter().sum::<u32>() as f32,
        )
    });
    let cell_share = (own_here + PRIOR_WEIGHT * city_share) / (own_total + PRIOR_WEIGHT);
    let ratio = if city.median_expected > 0.0 {
        (expected / city.median_expected) * (cell_share / city_share)
    } else {
        1.0
    };
    let level = RiskLevel::of_ratio(ratio);
    let top_categories = top_categories(stats);
    let reason = reason(level, ratio, at, stats, &top_categories);
    RiskHint {
        level,
        ratio,
        expected,
        top_categories,
        reason,
        model_version: model_version.to_owned(),
    }
}

fn top_categories(stats: Option<&CellStats>) -> Vec<CategoryShare> {
    let Some(stats) = stats else {
        return Vec::new();
    };
    let total: u32 = stats.categories.values().sum();
    if total == 0 {
        return Vec::new();
    }
    let mut all: Vec<(Category, u32)> = stats.categories.iter().map(|(c, n)| (*c, *n)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    all.into_iter()
        .take(3)
        .map(|(category, n)| CategoryShare {
            category,
            share: n as f32 / total as f32,
        })
        .filter(|c| c.share >= 0.1)
        .collect()
}

fn when(at: NaiveDateTime) -> String {
    let day = match at.weekday() {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    };
    let part = match at.hour() {
        0..=5 => "nights",
        6..=11 => "mornings",
        12..=17 => "afternoons",
        _ => "evenings",
    };
    format!("{day} {part}")
}

fn reason(
    level: RiskLevel,
    ratio: f32,
    at: NaiveDateTime,
    stats: Option<&CellStats>,
    top: &[CategoryShare],
) -> String {
    let when = when(at);
    let mut text = match level {
        RiskLevel::Low => format!("Fewer past reports here than in most of the city on {when}."),
        RiskLevel::Usual => format!("Past reports here are about usual for the city on {when}."),
        RiskLevel::Elevated | RiskLevel::High if ratio < 10.0 => format!(
            "More past reports here than in most of the city on {when} (about {:.0}× the typical level).",
            ratio.round().max(2.0)
        ),
        RiskLevel::Elevated | RiskLevel::High => format!(
            "More past reports here than in most of the city on {when} (over 10× the typical level)."
        ),
    };
    let recent = stats.map_or(0, |s| s.categories.values().sum::<u32>());
    if recent > 0 {
        let kinds: Vec<String> = top
            .iter()
            .map(|c| {
                format!(
                    "{} ({:.0}%)",
                    c.category.label().to_lowercase(),
                    c.share * 100.0
                )
            })
            .collect();
        text.push_str(&format!(
            " {recent} report{} within a few hundred metres in the past year",
            if recent == 1 { "" } else { "s" }
        ));
        if !kinds.is_empty() && recent >= 5 {
            text.push_str(&format!(", mostly {}", join_and(&kinds)));
        }
        text.push('.');
    } else {
        text.push_str(" No reports within a few hundred metres in the past year.");
    }
    text
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::NaiveDate;

    use super::*;
    use crate::risk::features::Features;

    fn city() -> CityReference {
        CityReference::new(vec![0.1, 0.2, 0.3], &[10; HOURS_PER_WEEK])
    }

    fn friday_evening() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 27)
            .unwrap()
            .and_hms_opt(21, 0, 0)
            .unwrap()
    }

    fn stats(hours_at: usize, n: u32, cats: &[(Category, u32)]) -> CellStats {
        let mut hours = vec![0; HOURS_PER_WEEK];
        hours[hours_at] = n;
        CellStats {
            cell: 1,
            features: Features::default(),
            hours,
            categories: cats.iter().copied().collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn the_median_and_the_hour_profile() {
        let c = city();
        assert!((c.median_expected - 0.2).abs() < 1e-6);
        assert!((c.hours.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        let even = CityReference::new(vec![1.0, 3.0], &[0; HOURS_PER_WEEK]);
        assert!((even.median_expected - 2.0).abs() < 1e-6);
    }

    #[test]
    fn levels_follow_the_ratio_to_the_city() {
        let at = friday_evening();
        let typical = hint(0.2, None, &city(), at, "v1");
        assert_eq!(typical.level, RiskLevel::Usual);
        assert!((typical.ratio - 1.0).abs() < 1e-4);
        assert_eq!(hint(0.05, None, &city(), at, "v1").level, RiskLevel::Low);
        assert_eq!(
            hint(0.6, None, &city(), at, "v1").level,
            RiskLevel::Elevated
        );
        assert_eq!(hint(2.0, None, &city(), at, "v1").level, RiskLevel::High);
        assert_eq!(typical.model_version, "v1");
    }

    #[test]
    fn a_busy_hour_raises_the_level_and_a_quiet_one_lowers_it() {
        let at = friday_evening();
        let h = usize::from(hour_of_week(at));
        // All of this cell's past incidents were on Friday at 21:00.
        let s = stats(
            h,
            100,
            &[
                (Category::Assault, 6),
                (Category::Theft, 3),
                (Category::Other, 1),
            ],
        );
        let busy = hint(0.2, Some(&s), &city(), at, "v1");
        assert!(busy.ratio > 5.0, "{busy:?}");
        assert_eq!(busy.level, RiskLevel::High);
        let quiet = hint(
            0.2,
            Some(&s),
            &city(),
            at - chrono::Duration::hours(12),
            "v1",
        );
        assert_eq!(quiet.level, RiskLevel::Low, "{quiet:?}");
        assert_eq!(busy.top_categories[0].category, Category::Assault);
        assert!((busy.top_categories[0].share - 0.6).abs() < 1e-6);
        assert_eq!(busy.top_categories.len(), 3);
        assert!(
            busy.reason.starts_with("More past reports here than in most of the city on Friday evenings (over 10× the typical level). "),
            "{}",
            busy.reason
        );
        assert!(
            busy.reason.ends_with("10 reports within a few hundred metres in the past year, mostly assault (60%), theft (30%) and other (10%)."),
            "{}",
            busy.reason
        );
    }

    #[test]
    fn an_empty_place_says_so_without_alarm() {
        let h = hint(0.001, None, &city(), friday_evening(), "v1");
        assert_eq!(h.level, RiskLevel::Low);
        assert_eq!(
            h.reason,
            "Fewer past reports here than in most of the city on Friday evenings. No reports within a few hundred metres in the past year."
        );
        assert!(h.top_categories.is_empty());
    }
}
