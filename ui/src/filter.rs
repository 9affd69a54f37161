//! What the incidents screen shows: the same filters for the map and the list.

/// The incidents filter as chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// A category code, or empty for all.
    pub category: String,
    /// Only incidents of the last so many days (`None`: any time).
    pub days: Option<u32>,
}

impl Filter {
    /// Whether an incident of `category` that occurred at `occurred_at` (RFC 3339) passes,
    /// `now_ms` being the time now in Unix milliseconds. A time that cannot be read passes
    /// only when no time range is chosen.
    pub fn keeps(&self, category: &str, occurred_at: &str, now_ms: i64) -> bool {
        if !self.category.is_empty() && self.category != category {
            return false;
        }
        match self.days {
            None => true,
            Some(days) => {
                unix_ms(occurred_at).is_some_and(|t| t >= now_ms - i64::from(days) * 86_400_000)
            }
        }
    }
}

/// Days from 1970-01-01 to the civil date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An RFC 3339 time (`2024-05-01T02:00:00.123-04:00`, `…Z`) in Unix milliseconds.
pub fn unix_ms(text: &str) -> Option<i64> {
    let b = text.trim();
    let num = |from: usize, to: usize| b.get(from..to)?.parse::<i64>().ok();
    if b.len() < 20 || b.get(4..5)? != "-" || !b.get(10..11)?.eq_ignore_ascii_case("T") {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = &b[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        ms = format!("{digits:0<3}").get(..3)?.parse().ok()?;
        rest = &frac[digits.len()..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    Some(secs * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rfc3339_with_offsets_and_fractions() {
        assert_eq!(unix_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            unix_ms("2024-05-01T02:00:00-04:00"),
            Some(1_714_543_200_000)
        );
        assert_eq!(unix_ms("2024-05-01T06:00:00.5Z"), Some(1_714_543_200_500));
        assert_eq!(unix_ms("2000-02-29T12:00:00+05:30"), Some(951_805_800_000));
        assert_eq!(unix_ms("yesterday"), None);
    }

    #[test]
    fn category_and_time_range_filter_together() {
        let now = unix_ms("2026-11-28T12:00:00Z").unwrap();
        let f = Filter {
            category: "theft".into(),
            days: Some(30),
        };
        assert!(f.keeps("theft", "2026-11-20T09:00:00-05:00", now));
        assert!(!f.keeps("assault", "2026-11-20T09:00:00-05:00", now));
        assert!(!f.keeps("theft", "2014-02-25T15:00:00-05:00", now));
        assert!(!f.keeps("theft", "not a time", now));
        let all = Filter::default();
        assert!(all.keeps("assault", "not a time", now));
    }
}
