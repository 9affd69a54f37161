//! The window: a navigation bar and one screen at a time (report, outbox, incidents,
//! watch areas, alerts, settings, about). Every screen reaches the client core only through [`invoke`].

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::area::{AreaForm, ShapeKind};
use crate::filter::Filter;
use crate::form::ReportForm;
use crate::invoke::{self, AlertBody, AppInfo, Shape};
use crate::map::IncidentMap;
use crate::text;

/// The screens, in the order of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Screen {
    Report,
    Outbox,
    Incidents,
    Areas,
    Alerts,
    Settings,
    About,
}

impl Screen {
    const ALL: [Screen; 7] = [
        Screen::Report,
        Screen::Outbox,
        Screen::Incidents,
        Screen::Areas,
        Screen::Alerts,
        Screen::Settings,
        Screen::About,
    ];

    fn id(self) -> &'static str {
        match self {
            Screen::Report => "report",
            Screen::Outbox => "outbox",
            Screen::Incidents => "incidents",
            Screen::Areas => "areas",
            Screen::Alerts => "alerts",
            Screen::Settings => "settings",
            Screen::About => "about",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Screen::Report => text::NAV_REPORT,
            Screen::Outbox => text::NAV_OUTBOX,
            Screen::Incidents => text::NAV_INCIDENTS,
            Screen::Areas => text::NAV_AREAS,
            Screen::Alerts => text::ALERTS_TITLE,
            Screen::Settings => text::NAV_SETTINGS,
            Screen::About => text::NAV_ABOUT,
        }
    }
}

/// The whole window.
#[component]
pub fn App() -> impl IntoView {
    // Local, not Send: the shell call is a JS promise.
    let info = LocalResource::new(invoke::app_info);
    let (screen, set_screen) = signal(Screen::Report);
    // Unread alerts, for the navigation bar: read once, then kept by the shell's `alerts`
    // event (sent with the unread count whenever the inbox changes).
    let (unread, set_unread) = signal(0u64);
    let (inbox_version, set_inbox_version) = signal(0u32);
    spawn_local(async move {
        if let Ok(inbox) = invoke::alerts().await {
            set_unread.set(inbox.unread);
        }
        invoke::listen("alerts", move |payload| {
            set_unread.set(payload.trim().parse().unwrap_or(0));
            set_inbox_version.update(|v| *v += 1);
        })
        .await;
    });

    let nav = Screen::ALL
        .into_iter()
        .map(|s| {
            view! {
                <button
                    id=format!("nav-{}", s.id())
                    class="nav-item"
                    class:active=move || screen.get() == s
                    class:unread=move || s == Screen::Alerts && (unread.get() != 0)
                    aria-current=move || (screen.get() == s).then_some("page")
                    on:click=move |_| set_screen.set(s)
                >
                    {move || match s {
                        Screen::Alerts => text::nav_alerts(unread.get()),
                        _ => s.label().to_owned(),
                    }}
                </button>
            }
        })
        .collect_view();

    view! {
        <main class="shell">
            <header class="masthead">
                <h1>"Vigil"</h1>
                <p class="tagline">{text::TAGLINE}</p>
                <nav class="nav" aria-label="Screens">{nav}</nav>
            </header>
            <Suspense fallback=|| view! { <p class="status">{text::LOADING}</p> }>
                <ErrorBoundary fallback=|errors| view! { <ShellError errors /> }>
                    {move || Suspend::new(async move {
                        info.await
                            .map(|info| {
                                view! {
                                    <section id=move || format!("screen-{}", screen.get().id())>
                                        {move || match screen.get() {
                                            Screen::Report => {
                                                view! { <ReportScreen info=info.clone() /> }.into_any()
                                            }
                                            Screen::Outbox => {
                                                view! { <OutboxScreen info=info.clone() /> }.into_any()
                                            }
                                            Screen::Incidents => {
                                                view! { <IncidentsScreen info=info.clone() /> }.into_any()
                                            }
                                            Screen::Areas => {
                                                view! { <AreasScreen info=info.clone() /> }.into_any()
                                            }
                                            Screen::Alerts => {
                                                view! { <AlertsScreen info=info.clone() version=inbox_version set_unread /> }.into_any()
                                            }
                                            Screen::Settings => view! { <SettingsScreen /> }.into_any(),
                                            Screen::About => {
                                                view! { <BuildInfo info=info.clone() /> }.into_any()
                                            }
                                        }}
                                    </section>
                                }
                            })
                    })}
                </ErrorBoundary>
            </Suspense>
        </main>
    }
}

/// One `<option>` per report category, labelled, valued by code.
fn category_options(info: &AppInfo) -> impl IntoView + use<> {
    info.categories
        .iter()
        .map(|c| view! { <option value=c.code.clone()>{c.label.clone()}</option> })
        .collect_view()
}

/// A line saying how an action went.
#[derive(Debug, Clone, PartialEq)]
enum Note {
    Done(String),
    Failed(String),
}

#[component]
fn NoteLine(note: ReadSignal<Option<Note>>) -> impl IntoView {
    move || {
        note.get().map(|n| match n {
            Note::Done(t) => view! { <p class="note done" role="status">{t}</p> }.into_any(),
            Note::Failed(t) => view! { <p class="note failed" role="alert">{t}</p> }.into_any(),
        })
    }
}

/// The local time now as a `datetime-local` value, and the zone's offset in minutes.
fn now_local() -> (String, i32) {
    let d = js_sys::Date::new_0();
    let value = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes()
    );
    (value, -(d.get_timezone_offset() as i32))
}

/// Report: what, when, where and in one's own words; saved as a draft as it is filled
/// in, queued on submit (offline too).
#[component]
fn ReportScreen(info: AppInfo) -> impl IntoView {
    let (now, offset) = now_local();
    let (category, set_category) = signal(String::new());
    let (when, set_when) = signal(now);
    let (lat, set_lat) = signal(String::new());
    let (lon, set_lon) = signal(String::new());
    let (place, set_place) = signal(String::new());
    let (description, set_description) = signal(String::new());
    let (draft, set_draft) = signal(None::<String>);
    let (note, set_note) = signal(None::<Note>);
    let (busy, set_busy) = signal(false);

    let form = move || ReportForm {
        category: category.get_untracked(),
        when: when.get_untracked(),
        offset_minutes: offset,
        lat: lat.get_untracked(),
        lon: lon.get_untracked(),
        place: place.get_untracked(),
        description: description.get_untracked(),
    };
    // Autosave when a field is committed (change), one save at a time.
    let autosave = move || {
        if busy.get_untracked() {
            return;
        }
        let Ok(input) = form().to_input() else {
            return;
        };
        set_busy.set(true);
        spawn_local(async move {
            if let Ok(saved) = invoke::save_draft(draft.get_untracked(), &input).await {
                set_draft.set(Some(saved.id));
                set_note.set(Some(Note::Done(text::DRAFT_SAVED.into())));
            }
            set_busy.set(false);
        });
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = match form().to_input() {
            Ok(i) => i,
            Err(e) => {
                set_note.set(Some(Note::Failed(e.to_string())));
                return;
            }
        };
        spawn_local(async move {
            let saved = match invoke::save_draft(draft.get_untracked(), &input).await {
                Ok(d) => d,
                Err(e) => {
                    set_note.set(Some(Note::Failed(e.to_string())));
                    return;
                }
            };
            match invoke::submit(&saved.id).await {
                Ok(_) => {
                    set_draft.set(None);
                    set_description.set(String::new());
                    set_place.set(String::new());
                    set_note.set(Some(Note::Done(text::QUEUED.into())));
                }
                Err(e) => {
                    set_draft.set(Some(saved.id));
                    set_note.set(Some(Note::Failed(e.to_string())));
                }
            }
        });
    };

    let options = category_options(&info);

    view! {
        <form class="card report" on:submit=submit on:change=move |_| autosave()>
            <h2>{text::REPORT_TITLE}</h2>
            <label>
                {text::FIELD_CATEGORY}
                <select
                    id="category"
                    prop:value=category
                    on:change=move |ev| set_category.set(event_target_value(&ev))
                >
                    <option value="">{text::PICK_CATEGORY}</option>
                    {options}
                </select>
            </label>
            <label>
                {text::FIELD_WHEN}
                <input
                    id="when"
                    type="datetime-local"
                    prop:value=when
                    on:input=move |ev| set_when.set(event_target_value(&ev))
                />
            </label>
            <div class="row">
                <label>
                    {text::FIELD_LAT}
                    <input
                        id="lat"
                        inputmode="decimal"
                        prop:value=lat
                        on:input=move |ev| set_lat.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    {text::FIELD_LON}
                    <input
                        id="lon"
                        inputmode="decimal"
                        prop:value=lon
                        on:input=move |ev| set_lon.set(event_target_value(&ev))
                    />
                </label>
            </div>
            <label>
                {text::FIELD_PLACE}
                <input
                    id="place"
                    prop:value=place
                    on:input=move |ev| set_place.set(event_target_value(&ev))
                />
            </label>
            <label>
                {text::FIELD_DESCRIPTION}
                <textarea
                    id="description"
                    rows="4"
                    prop:value=description
                    on:input=move |ev| set_description.set(event_target_value(&ev))
                ></textarea>
            </label>
            <button id="submit" type="submit" class="primary">{text::SUBMIT}</button>
            <NoteLine note />
        </form>
        <DraftsList version=note />
    }
}

/// The drafts kept on this device, with the server's reason for any it refused.
#[component]
fn DraftsList(version: ReadSignal<Option<Note>>) -> impl IntoView {
    let drafts = LocalResource::new(move || {
        version.track();
        invoke::drafts()
    });
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match drafts.await {
                    Ok(list) if !list.is_empty() => Some(view! {
                        <div class="card drafts">
                            <h2>{text::DRAFTS_TITLE}</h2>
                            <ul class="items">
                                {list.into_iter().map(|d| view! {
                                    <li class="item">
                                        <strong>{d.category.unwrap_or_else(|| text::NO_CATEGORY.into())}</strong>
                                        <span class="desc">{d.description}</span>
                                        {d.rejected.map(|(field, reason)| view! {
                                            <span class="why refused">{text::refused(&field, &reason)}</span>
                                        })}
                                    </li>
                                }).collect_view()}
                            </ul>
                        </div>
                    }),
                    _ => None,
                }
            })}
        </Suspense>
    }
}

/// Outbox: submitted reports, not sent yet (with why) or sent; sync on demand.
#[component]
fn OutboxScreen(info: AppInfo) -> impl IntoView {
    let (version, set_version) = signal(0u32);
    let items = LocalResource::new(move || {
        version.get();
        invoke::outbox()
    });
    let (note, set_note) = signal(None::<Note>);
    let sync = move |_| {
        spawn_local(async move {
            set_note.set(Some(match invoke::sync_now().await {
                Ok(s) => Note::Done(text::synced(s.sent, s.rejected, s.pulled, s.alerts)),
                Err(e) => Note::Failed(e.to_string()),
            }));
            set_version.update(|v| *v += 1);
        });
    };
    view! {
        <div class="card">
            <h2>{text::OUTBOX_TITLE}</h2>
            <button id="sync" class="primary" on:click=sync>{text::SYNC_NOW}</button>
            <NoteLine note />
            <Suspense fallback=|| view! { <p class="status">{text::LOADING}</p> }>
                {move || {
                    let info = info.clone();
                    Suspend::new(async move {
                    listed(items.await, text::OUTBOX_EMPTY, |list| view! {
                            <ul class="items outbox">
                                {list.into_iter().map(|i| {
                                    let sent = i.state == "sent";
                                    view! {
                                        <li class="item" data-state=i.state.clone()>
                                            <span class=if sent { "badge sent" } else { "badge pending" }>
                                                {if sent { text::SENT } else { text::NOT_SENT }}
                                            </span>
                                            <strong>{info.label(&i.report.category)}</strong>
                                            <span class="desc">{i.report.description}</span>
                                            {i.last_error.map(|e| view! { <span class="why">{e}</span> })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any())
                })}}
            </Suspense>
        </div>
    }
}

/// A list answered by the shell: the view `render` makes of it, a line when it is empty,
/// or the error.
fn listed<T>(
    answer: Result<Vec<T>, invoke::InvokeError>,
    empty: &'static str,
    render: impl FnOnce(Vec<T>) -> AnyView,
) -> AnyView {
    match answer {
        Ok(list) if list.is_empty() => view! { <p class="status">{empty}</p> }.into_any(),
        Ok(list) => render(list),
        Err(e) => view! { <p class="note failed">{e.to_string()}</p> }.into_any(),
    }
}

/// Incidents: the cached incidents, newest first, with where they came from.
#[component]
fn IncidentsScreen(info: AppInfo) -> impl IntoView {
    let items = LocalResource::new(invoke::incidents);
    let tiles = LocalResource::new(invoke::tile_url);
    let (category, set_category) = signal(String::new());
    let (days, set_days) = signal(String::new());
    let options = category_options(&info);
    view! {
        <div class="card">
            <h2>{text::INCIDENTS_TITLE}</h2>
            <div class="filters row">
                <label>
                    {text::FIELD_CATEGORY}
                    <select id="filter-category" on:change=move |ev| set_category.set(event_target_value(&ev))>
                        <option value="">{text::ALL_CATEGORIES}</option>
                        {options}
                    </select>
                </label>
                <label>
                    {text::FIELD_PERIOD}
                    <select id="filter-days" on:change=move |ev| set_days.set(event_target_value(&ev))>
                        <option value="">{text::ANY_TIME}</option>
                        <option value="7">{text::LAST_7_DAYS}</option>
                        <option value="30">{text::LAST_30_DAYS}</option>
                        <option value="365">{text::LAST_YEAR}</option>
                    </select>
                </label>
            </div>
            <Suspense fallback=|| view! { <p class="status">{text::LOADING}</p> }>
                {move || {
                    let info = info.clone();
                    let filter = Filter {
                        category: category.get(),
                        days: days.get().parse().ok(),
                    };
                    Suspend::new(async move {
                    let tiles = tiles.await.unwrap_or_else(|_| text::DEFAULT_TILES.to_owned());
                    let names = info.clone();
                    let label = Callback::new(move |code: String| names.label(&code));
                    let now = js_sys::Date::now() as i64;
                    let list = items.await.map(|all| {
                        all.into_iter()
                            .filter(|i| filter.keeps(&i.category, &i.occurred_at, now))
                            .collect::<Vec<_>>()
                    });
                    listed(list, text::INCIDENTS_EMPTY, |list| view! {
                            <IncidentMap incidents=list.clone() tiles label />
                            <p class="status">{text::incident_count(list.len())}</p>
                            <ul class="items incidents">
                                {list.into_iter().map(|i| view! {
                                    <li class="item" data-status=i.status.clone()>
                                        <strong>{info.label(&i.category)}</strong>
                                        <time>{i.occurred_at}</time>
                                        <span class="desc">{i.description}</span>
                                        <span class="source">{
                                            match i.source.feed {
                                                Some(feed) => format!("{}: {feed}", text::FROM_FEED),
                                                None => text::FROM_RESIDENT.to_owned(),
                                            }
                                        }</span>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any())
                })}}
            </Suspense>
        </div>
    }
}

/// Watch areas: circles or polygons around the places one cares about, each with its
/// categories, severity and quiet hours; saved here and sent on the next sync.
#[component]
fn AreasScreen(info: AppInfo) -> impl IntoView {
    let (version, set_version) = signal(0u32);
    let areas = LocalResource::new(move || {
        version.get();
        invoke::areas()
    });
    let (name, set_name) = signal(String::new());
    let (shape, set_shape) = signal(ShapeKind::Circle);
    let (lat, set_lat) = signal(String::new());
    let (lon, set_lon) = signal(String::new());
    let (radius, set_radius) = signal("800".to_owned());
    let (points, set_points) = signal(String::new());
    let (category, set_category) = signal(String::new());
    let (severity, set_severity) = signal("1".to_owned());
    let (quiet_start, set_quiet_start) = signal(String::new());
    let (quiet_end, set_quiet_end) = signal(String::new());
    let (zone, set_zone) = signal(local_time_zone());
    let (note, set_note) = signal(None::<Note>);
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let form = AreaForm {
            name: name.get_untracked(),
            shape: shape.get_untracked(),
            lat: lat.get_untracked(),
            lon: lon.get_untracked(),
            radius_m: radius.get_untracked(),
            points: points.get_untracked(),
            category: category.get_untracked(),
            min_severity: severity.get_untracked(),
            quiet_start: quiet_start.get_untracked(),
            quiet_end: quiet_end.get_untracked(),
            time_zone: zone.get_untracked(),
        };
        let spec = match form.spec() {
            Ok(spec) => spec,
            Err(e) => {
                set_note.set(Some(Note::Failed(e)));
                return;
            }
        };
        spawn_local(async move {
            match invoke::save_area(None, &spec).await {
                Ok(area) => {
                    set_note.set(Some(Note::Done(text::area_added(&area.name))));
                    set_name.set(String::new());
                }
                Err(e) => set_note.set(Some(Note::Failed(e.to_string()))),
            }
            set_version.update(|v| *v += 1);
        });
    };
    let delete = move |id: String, name: String| {
        spawn_local(async move {
            match invoke::delete_area(&id).await {
                Ok(()) => set_note.set(Some(Note::Done(text::area_deleted(&name)))),
                Err(e) => set_note.set(Some(Note::Failed(e.to_string()))),
            }
            set_version.update(|v| *v += 1);
        });
    };
    let options = category_options(&info);
    view! {
        <div class="card">
            <h2>{text::AREAS_TITLE}</h2>
            <Suspense fallback=|| view! { <p class="status">{text::LOADING}</p> }>
                {move || {
                    let info = info.clone();
                    Suspend::new(async move {
                        listed(areas.await, text::AREAS_EMPTY, |list| view! {
                            <ul class="items areas">
                                {list.into_iter().map(|a| {
                                    let (id, area_name) = (a.id.clone(), a.name.clone());
                                    let synced = a.state == "synced";
                                    view! {
                                        <li class="item" data-state=a.state.clone()>
                                            <strong>{a.name}</strong>
                                            <span>{match &a.shape {
                                                Shape::Circle { lat, lon, radius_m } => text::circle(*radius_m, *lat, *lon),
                                                Shape::Polygon { points } => text::polygon(points.len()),
                                            }}</span>
                                            <span class="why">{
                                                if a.categories.is_empty() {
                                                    text::ALL_CATEGORIES.to_owned()
                                                } else {
                                                    a.categories.iter().map(|c| info.label(c)).collect::<Vec<_>>().join(", ")
                                                }
                                            }</span>
                                            {a.quiet_hours.map(|q| view! { <span class="why">{text::quiet(&q.start, &q.end, &q.time_zone)}</span> })}
                                            <span class=if synced { "badge sent" } else { "badge pending" }>
                                                {a.last_error.unwrap_or_else(|| (if synced { text::AREA_SYNCED } else { text::AREA_PENDING }).to_owned())}
                                            </span>
                                            {match (a.hint, a.hint_note) {
                                                (Some(h), _) => view! {
                                                    <p class="hint" data-level=h.level.clone() title=text::HINT_NOTE>
                                                        <strong>{text::risk_level(&h.level)}</strong>" "{h.reason}
                                                    </p>
                                                }.into_any(),
                                                (None, Some(note)) => view! { <p class="hint none">{note}</p> }.into_any(),
                                                (None, None) => ().into_any(),
                                            }}
                                            <button class="link" on:click=move |_| delete(id.clone(), area_name.clone())>{text::DELETE}</button>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any())
                    })
                }}
            </Suspense>
            <form class="add-area" on:submit=add>
                <div class="row">
                    <label>
                        {text::FIELD_AREA_NAME}
                        <input id="area-name" prop:value=name on:input=move |ev| set_name.set(event_target_value(&ev)) />
                    </label>
                    <label>
                        {text::FIELD_SHAPE}
                        <select id="area-shape" on:change=move |ev| set_shape.set(if event_target_value(&ev) == "polygon" { ShapeKind::Polygon } else { ShapeKind::Circle })>
                            <option value="circle">{text::SHAPE_CIRCLE}</option>
                            <option value="polygon">{text::SHAPE_POLYGON}</option>
                        </select>
                    </label>
                </div>
                <Show
                    when=move || shape.get() == ShapeKind::Circle
                    fallback=move || view! {
                        <label>
                            {text::FIELD_POINTS}
                            <textarea id="area-points" rows="4" prop:value=points on:input=move |ev| set_points.set(event_target_value(&ev))></textarea>
                        </label>
                    }
                >
                    <div class="row">
                        <label>
                            {text::FIELD_LAT}
                            <input id="area-lat" inputmode="decimal" prop:value=lat on:input=move |ev| set_lat.set(event_target_value(&ev)) />
                        </label>
                        <label>
                            {text::FIELD_LON}
                            <input id="area-lon" inputmode="decimal" prop:value=lon on:input=move |ev| set_lon.set(event_target_value(&ev)) />
                        </label>
                        <label>
                            {text::FIELD_RADIUS}
                            <input id="area-radius" inputmode="numeric" prop:value=radius on:input=move |ev| set_radius.set(event_target_value(&ev)) />
                        </label>
                    </div>
                </Show>
                <div class="row">
                    <label>
                        {text::FIELD_CATEGORY}
                        <select id="area-category" on:change=move |ev| set_category.set(event_target_value(&ev))>
                            <option value="">{text::ALL_CATEGORIES}</option>
                            {options}
                        </select>
                    </label>
                    <label>
                        {text::FIELD_MIN_SEVERITY}
                        <select id="area-severity" on:change=move |ev| set_severity.set(event_target_value(&ev))>
                            <option value="1">{text::SEVERITY_ALL}</option>
                            <option value="2">{text::SEVERITY_SERIOUS}</option>
                            <option value="3">{text::SEVERITY_VIOLENT}</option>
                        </select>
                    </label>
                </div>
                <div class="row">
                    <label>
                        {text::FIELD_QUIET_START}
                        <input id="area-quiet-start" type="time" prop:value=quiet_start on:input=move |ev| set_quiet_start.set(event_target_value(&ev)) />
                    </label>
                    <label>
                        {text::FIELD_QUIET_END}
                        <input id="area-quiet-end" type="time" prop:value=quiet_end on:input=move |ev| set_quiet_end.set(event_target_value(&ev)) />
                    </label>
                    <label>
                        {text::FIELD_TIME_ZONE}
                        <input id="area-zone" prop:value=zone on:input=move |ev| set_zone.set(event_target_value(&ev)) />
                    </label>
                </div>
                <button id="add-area" type="submit" class="primary">{text::ADD_AREA}</button>
            </form>
            <NoteLine note />
        </div>
    }
}

/// The time zone this computer is set to (`Intl`), for quiet hours.
fn local_time_zone() -> String {
    let options = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new())
        .resolved_options();
    js_sys::Reflect::get(&options, &"timeZone".into())
        .ok()
        .and_then(|z| z.as_string())
        .unwrap_or_else(|| "UTC".to_owned())
}

/// Alerts: the inbox, newest first; opening it marks them read.
#[component]
fn AlertsScreen(
    info: AppInfo,
    version: ReadSignal<u32>,
    set_unread: WriteSignal<u64>,
) -> impl IntoView {
    let inbox = LocalResource::new(move || {
        version.get();
        invoke::alerts()
    });
    view! {
        <div class="card">
            <h2>{text::ALERTS_TITLE}</h2>
            <Suspense fallback=|| view! { <p class="status">{text::LOADING}</p> }>
                {move || {
                    let info = info.clone();
                    Suspend::new(async move {
                        let list = inbox.await.map(|inbox| inbox.alerts);
                        if let Some(newest) = list.as_ref().ok().and_then(|l| l.first()).filter(|a| !a.read) {
                            let up_to = newest.id;
                            spawn_local(async move {
                                if let Ok(unread) = invoke::mark_alerts_read(up_to).await {
                                    set_unread.set(unread);
                                }
                            });
                        }
                        listed(list, text::ALERTS_EMPTY, |list| view! {
                            <ul class="items alerts">
                                {list.into_iter().map(|a| {
                                    let kind = match &a.body {
                                        AlertBody::Incident { .. } => "incident",
                                        AlertBody::Digest { .. } => "digest",
                                        AlertBody::Retraction { .. } => "retraction",
                                    };
                                    let (title, detail) = match &a.body {
                                        AlertBody::Incident { incident, areas } => (
                                            text::alert_near(&info.label(&incident.category), areas),
                                            format!("{} \u{b7} {}", incident.place.clone().unwrap_or_else(|| incident.summary.clone()), incident.occurred_at),
                                        ),
                                        AlertBody::Digest { reason, incidents, areas } => (
                                            text::digest(incidents.len(), areas, reason == "quiet_hours"),
                                            incidents.iter().map(|i| info.label(&i.category)).collect::<Vec<_>>().join(", "),
                                        ),
                                        AlertBody::Retraction { incident_id } => (
                                            text::WITHDRAWN.to_owned(),
                                            incident_id.clone(),
                                        ),
                                    };
                                    view! {
                                        <li class="item" data-kind=kind class:retracted=a.retracted>
                                            {(!a.read).then(|| view! { <span class="badge pending">{text::NEW}</span> })}
                                            <strong>{title}</strong>
                                            <span class="desc">{detail}</span>
                                            {a.retracted.then(|| view! { <span class="why refused">{text::WITHDRAWN}</span> })}
                                            <time>{a.at}</time>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any())
                    })
                }}
            </Suspense>
        </div>
    }
}

/// Settings: the server and the account.
#[component]
fn SettingsScreen() -> impl IntoView {
    let (version, set_version) = signal(0u32);
    let account = LocalResource::new(move || {
        version.get();
        invoke::account()
    });
    let (server, set_server) = signal("http://127.0.0.1:8080".to_owned());
    let (username, set_username) = signal(String::new());
    let (password, set_password) = signal(String::new());
    let (register, set_register) = signal(false);
    let (note, set_note) = signal(None::<Note>);
    let sign_in = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        spawn_local(async move {
            let result = invoke::sign_in(
                &server.get_untracked(),
                &username.get_untracked(),
                &password.get_untracked(),
                register.get_untracked(),
            )
            .await;
            set_password.set(String::new());
            set_note.set(Some(match result {
                Ok(a) => Note::Done(text::signed_in(&a.username, &a.server)),
                Err(e) => Note::Failed(e.to_string()),
            }));
            set_version.update(|v| *v += 1);
        });
    };
    let sign_out = move |_| {
        spawn_local(async move {
            set_note.set(Some(match invoke::sign_out().await {
                Ok(()) => Note::Done(text::SIGNED_OUT.into()),
                Err(e) => Note::Failed(e.to_string()),
            }));
            set_version.update(|v| *v += 1);
        });
    };
    view! {
        <div class="card">
            <h2>{text::SETTINGS_TITLE}</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match account.await {
                        Ok(Some(a)) => view! {
                            <p id="account">{text::signed_in(&a.username, &a.server)}</p>
                            <button id="sign-out" on:click=sign_out>{text::SIGN_OUT}</button>
                        }.into_any(),
                        Ok(None) => view! { <p id="account">{text::NOT_SIGNED_IN}</p> }.into_any(),
                        Err(e) => view! { <p class="note failed">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <form class="sign-in" on:submit=sign_in>
                <label>
                    {text::FIELD_SERVER}
                    <input id="server" prop:value=server on:input=move |ev| set_server.set(event_target_value(&ev)) />
                </label>
                <label>
                    {text::FIELD_USERNAME}
                    <input id="username" autocomplete="username" prop:value=username on:input=move |ev| set_username.set(event_target_value(&ev)) />
                </label>
                <label>
                    {text::FIELD_PASSWORD}
                    <input id="password" type="password" autocomplete="current-password" prop:value=password on:input=move |ev| set_password.set(event_target_value(&ev)) />
                </label>
                <label class="check">
                    <input id="register" type="checkbox" prop:checked=register on:change=move |ev| set_register.set(event_target_checked(&ev)) />
                    {text::FIELD_REGISTER}
                </label>
                <button id="sign-in" type="submit" class="primary">{text::SIGN_IN}</button>
            </form>
            <NoteLine note />
            <TilesSetting />
        </div>
    }
}

/// Where the map's tiles come from.
#[component]
fn TilesSetting() -> impl IntoView {
    let (tiles, set_tiles) = signal(String::new());
    let (note, set_note) = signal(None::<Note>);
    spawn_local(async move {
        if let Ok(url) = invoke::tile_url().await {
            set_tiles.set(url);
        }
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        spawn_local(async move {
            set_note.set(Some(
                match invoke::set_tile_url(&tiles.get_untracked()).await {
                    Ok(url) => {
                        set_tiles.set(url);
                        Note::Done(text::TILES_SAVED.into())
                    }
                    Err(e) => Note::Failed(e.to_string()),
                },
            ));
        });
    };
    view! {
        <form class="tiles" on:submit=save>
            <label>
                {text::FIELD_TILES}
                <input id="tiles" prop:value=tiles on:input=move |ev| set_tiles.set(event_target_value(&ev)) />
            </label>
            <button id="save-tiles" type="submit">{text::SAVE}</button>
            <NoteLine note />
        </form>
    }
}

/// The report categories and the versions this client speaks.
#[component]
fn BuildInfo(info: AppInfo) -> impl IntoView {
    let categories = info
        .categories
        .into_iter()
        .map(|category| {
            view! {
                <li>
                    <span class="label">{category.label}</span>
                    " "
                    <code>{category.code}</code>
                </li>
            }
        })
        .collect_view();

    view! {
        <section class="build-info">
            <h2>{text::CATEGORIES_TITLE}</h2>
            <ul class="categories">{categories}</ul>
            <dl class="versions">
                <dt>{text::SYNC_PROTOCOL}</dt>
                <dd>{info.protocol}</dd>
                <dt>{text::CLIENT_VERSION}</dt>
                <dd>{info.version}</dd>
            </dl>
        </section>
    }
}

/// Shows why the shell could not be reached, in words.
#[component]
fn ShellError(errors: ArcRwSignal<Errors>) -> impl IntoView {
    view! {
        <section class="error" role="alert">
            <h2>{text::SHELL_UNREACHABLE}</h2>
            <ul>
                {move || {
                    errors
                        .get()
                        .into_iter()
                        .map(|(_, error)| view! { <li>{error.to_string()}</li> })
                        .collect_view()
                }}
            </ul>
        </section>
    }
}
