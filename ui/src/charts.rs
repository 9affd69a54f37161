//! The dashboard's charts, drawn as SVG: incidents by month stacked by category, and a
//! 7 × 24 grid of the hours of the week. Each has a table with the same numbers for
//! screen readers and keyboard users. The arithmetic is apart from the views and tested.

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::invoke::MonthCount;
use crate::text;

/// One bar of the month chart: the month and its categories' segments, bottom first, as
/// `(category, from, to)` in incidents.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub month: String,
    pub segments: Vec<(String, i64, i64)>,
}

impl Bar {
    pub fn total(&self) -> i64 {
        self.segments.last().map_or(0, |s| s.2)
    }
}

/// Stacks the counts per month; categories keep one order in every bar (the busiest
/// overall at the bottom), so colours line up.
pub fn stack(months: &[MonthCount]) -> (Vec<Bar>, Vec<String>) {
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for m in months {
        *totals.entry(&m.category).or_default() += m.count;
    }
    let mut order: Vec<(&str, i64)> = totals.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let order: Vec<String> = order.into_iter().map(|(c, _)| c.to_owned()).collect();
    let mut per_month: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
    for m in months {
        *per_month
            .entry(&m.month)
            .or_default()
            .entry(&m.category)
            .or_default() += m.count;
    }
    let bars = per_month
        .into_iter()
        .map(|(month, counts)| {
            let mut y = 0;
            let segments = order
                .iter()
                .filter_map(|c| {
                    let n = *counts.get(c.as_str())?;
                    let from = y;
                    y += n;
                    Some((c.clone(), from, y))
                })
                .collect();
            Bar {
                month: month.to_owned(),
                segments,
            }
        })
        .collect();
    (bars, order)
}

/// How dark a cell of `count` is when the busiest has `max`: 0 for none, else from 0.15
/// to 1 on a square-root scale (a few busy hours do not wash out the rest).
pub fn shade(count: i64, max: i64) -> f64 {
    if count <= 0 || max <= 0 {
        return 0.0;
    }
    0.15 + 0.85 * (count as f64 / max as f64).sqrt().min(1.0)
}

/// The busiest hour of the week: `(day from Monday, hour, count)`.
pub fn busiest(hours: &[i64]) -> Option<(usize, usize, i64)> {
    let (i, n) = hours
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))?;
    (*n > 0).then_some((i / 24, i % 24, *n))
}

/// Colours for categories, in stacking order.
const PALETTE: [&str; 11] = [
    "#17327a", "#b45309", "#0f766e", "#9f1239", "#6d28d9", "#4d7c0f", "#0369a1", "#a16207",
    "#be185d", "#374151", "#15803d",
];

/// Incidents per month, stacked by category, with a legend and a table.
#[component]
pub fn MonthChart(months: Vec<MonthCount>, label: Callback<String, String>) -> impl IntoView {
    let (bars, order) = stack(&months);
    let max = bars.iter().map(Bar::total).max().unwrap_or(0).max(1);
    let (w, h, pad) = (640.0, 200.0, 24.0);
    let step = (w - pad) / bars.len().max(1) as f64;
    let colour = |c: &str| {
        let i = order.iter().position(|o| o == c).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    let y = move |n: i64| h - pad - (h - 2.0 * pad) * n as f64 / max as f64;
    let rects = bars
        .iter()
        .enumerate()
        .flat_map(|(i, bar)| {
            let x = pad + step * i as f64 + step * 0.1;
            bar.segments
                .iter()
                .map(|(c, from, to)| {
                    view! {
                        <rect class="bar" data-month=bar.month.clone() data-category=c.clone()
                            x=x y=y(*to) width=step * 0.8 height=(y(*from) - y(*to)).max(0.5)
                            fill=colour(c)>
                            <title>{format!("{} {}: {}", bar.month, label.run(c.clone()), to - from)}</title>
                        </rect>
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect_view();
    // A month label under the first bar and then every sixth.
    let ticks = bars
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 6 == 0)
        .map(|(i, bar)| {
            view! { <text class="tick" x=pad + step * i as f64 y=h - 6.0>{bar.month.clone()}</text> }
        })
        .collect_view();
    let legend = order
        .iter()
        .map(|c| {
            view! {
                <li><span class="swatch" style=format!("background:{}", colour(c))></span>{label.run(c.clone())}</li>
            }
        })
        .collect_view();
    let rows = bars
        .iter()
        .map(|bar| view! { <tr><td>{bar.month.clone()}</td><td>{bar.total()}</td></tr> })
        .collect_view();
    view! {
        <svg class="chart months" viewBox=format!("0 0 {w} {h}") role="img" aria-label=text::TRENDS_TITLE>
            <line class="axis" x1=pad y1=h - pad x2=w y2=h - pad />
            <text class="tick" x=0 y=pad>{max}</text>
            {rects}
            {ticks}
        </svg>
        <ul class="legend">{legend}</ul>
        <details>
            <summary>{text::TABLE_SUMMARY}</summary>
            <table class="numbers months">
                <thead><tr><th>{text::FIELD_MONTH}</th><th>{text::FIELD_COUNT}</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </details>
    }
}

/// The 168 hours of the week as a grid, Monday at the top.
#[component]
pub fn HourOfWeek(hours: Vec<i64>) -> impl IntoView {
    let max = hours.iter().copied().max().unwrap_or(0);
    let (cell, left, top) = (22.0, 36.0, 16.0);
    let cells = hours
        .iter()
        .enumerate()
        .take(168)
        .map(|(i, n)| {
            let (day, hour) = (i / 24, i % 24);
            view! {
                <rect class="hour" data-count=*n x=left + cell * hour as f64 y=top + cell * day as f64
                    width=cell - 2.0 height=cell - 2.0 fill="#9f1239" fill-opacity=shade(*n, max)>
                    <title>{format!("{} {hour:02}:00: {n}", text::WEEKDAYS[day])}</title>
                </rect>
            }
        })
        .collect_view();
    let days = text::WEEKDAYS
        .iter()
        .enumerate()
        .map(|(d, name)| view! { <text class="tick" x=0 y=top + cell * d as f64 + 15.0>{*name}</text> })
        .collect_view();
    let hour_ticks = (0..24)
        .step_by(3)
        .map(|hr| view! { <text class="tick" x=left + cell * hr as f64 y=12>{format!("{hr:02}")}</text> })
        .collect_view();
    let rows = text::WEEKDAYS
        .iter()
        .enumerate()
        .map(|(d, name)| {
            let day: Vec<i64> = hours.iter().skip(d * 24).take(24).copied().collect();
            view! {
                <tr>
                    <th>{*name}</th>
                    {day.into_iter().map(|n| view! { <td>{n}</td> }).collect_view()}
                </tr>
            }
        })
        .collect_view();
    view! {
        <svg class="chart hours" viewBox=format!("0 0 {} {}", left + cell * 24.0, top + cell * 7.0)
            role="img" aria-label=text::HOURS_TITLE>
            {hour_ticks}
            {days}
            {cells}
        </svg>
        {busiest(&hours).map(|(d, h, n)| view! { <p class="status busiest">{text::busiest_hour(d, h, n)}</p> })}
        <details>
            <summary>{text::TABLE_SUMMARY}</summary>
            <table class="numbers hours">
                <thead><tr><th></th>{(0..24).map(|h| view! { <th>{format!("{h:02}")}</th> }).collect_view()}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(month: &str, category: &str, count: i64) -> MonthCount {
        MonthCount {
            month: month.into(),
            category: category.into(),
            count,
        }
    }

    #[test]
    fn bars_stack_categories_in_one_order_busiest_first() {
        let (bars, order) = stack(&[
            m("2019-02", "theft", 1),
            m("2019-01", "theft", 3),
            m("2019-01", "assault", 5),
            m("2019-02", "robbery", 2),
        ]);
        assert_eq!(order, vec!["assault", "theft", "robbery"]);
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].month, "2019-01");
        assert_eq!(
            bars[0].segments,
            vec![("assault".into(), 0, 5), ("theft".into(), 5, 8)]
        );
        assert_eq!(bars[0].total(), 8);
        assert_eq!(
            bars[1].segments,
            vec![("theft".into(), 0, 1), ("robbery".into(), 1, 3)]
        );
        assert_eq!(stack(&[]).0, vec![]);
    }

    #[test]
    fn shades_and_the_busiest_hour() {
        assert_eq!(shade(0, 10), 0.0);
        assert_eq!(shade(10, 10), 1.0);
        assert!((shade(1, 100) - 0.235).abs() < 1e-9);
        assert_eq!(shade(5, 0), 0.0);
        let mut hours = vec![0; 168];
        hours[24 + 17] = 9; // Tuesday 17:00
        hours[5 * 24 + 23] = 9; // Saturday 23:00, as busy: the earlier one is named
        assert_eq!(busiest(&hours), Some((1, 17, 9)));
        assert_eq!(busiest(&[0; 168]), None);
    }
}
