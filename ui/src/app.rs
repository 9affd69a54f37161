//! The window: a navigation bar and one screen at a time (report, outbox, incidents,
//! dashboard, watch areas, alerts, settings, about). Every screen reaches the client core
//! only through [`invoke`]. Alt+1 … Alt+8 open the screens from the keyboard.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::area::{AreaForm, ShapeKind, parse_points};
use crate::charts::{HourOfWeek, MonthChart};
use crate::filter::Filter;
use crate::form::{ReportForm, coordinate_text};
use crate::invoke::{self, AlertBody, AppInfo, Incident, Photo, Place, Shape};
use crate::map::{AreaMap, HeatMap, IncidentMap, PickMap};
use crate::{photo, text};

/// The screens, in the order of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Screen {
    Report,
    Outbox,
    Incidents,
    Dashboard,
    Areas,
    Alerts,
    Groups,
    Settings,
    About,
}

impl Screen {
    const ALL: [Screen; 9] = [
        Screen::Report,
        Screen::Outbox,
        Screen::Incidents,
        Screen::Dashboard,
        Screen::Areas,
        Screen::Alerts,
        Screen::Groups,
        Screen::Settings,
        Screen::About,
    ];

    fn id(self) -> &'static str {
        match self {
            Screen::Report => "report",
            Screen::Outbox => "outbox",
            Screen::Incidents => "incidents",
            Screen::Dashboard => "dashboard",
            Screen::Areas => "areas",
            Screen::Alerts => "alerts",
            Screen::Groups => "groups",
            Screen::Settings => "settings",
            Screen::About => "about",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Screen::Report => text::NAV_REPORT,
            Screen::Outbox => text::NAV_OUTBOX,
            Screen::Incidents => text::NAV_INCIDENTS,
            Screen::Dashboard => text::NAV_DASHBOARD,
            Screen::Areas => text::NAV_AREAS,
            Screen::Alerts => text::ALERTS_TITLE,
            Screen::Groups => text::NAV_GROUPS,
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

    // Alt+1 … Alt+9: the screens in the order of the bar.
    let keys = window_event_listener(leptos::ev::keydown, move |e| {
        let screen = e
            .key()
            .parse::<usize>()
            .ok()
            .and_then(|d| Screen::ALL.get(d.wrapping_sub(1)));
        if let Some(s) = screen.filter(|_| e.alt_key() && !e.ctrl_key() && !e.meta_key()) {
            e.prevent_default();
            set_screen.set(*s);
        }
    });
    on_cleanup(move || keys.remove());

    let nav = Screen::ALL
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            view! {
                <button
                    id=format!("nav-{}", s.id())
                    title=format!("Alt+{}", i + 1)
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
                                            Screen::Dashboard => {
                                                view! { <DashboardScreen info=info.clone() /> }.into_any()
                                            }
                                            Screen::Areas => {
                                                view! { <AreasScreen info=info.clone() /> }.into_any()
                                            }
                                            Screen::Alerts => {
                                                view! { <AlertsScreen info=info.clone() version=inbox_version set_unread /> }.into_any()
                                            }
                                            Screen::Groups => {
                                                view! { <GroupsScreen info=info.clone() /> }.into_any()
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

/// Report: what, when, where and in one's own words, with photos; saved as a draft as it
/// is filled in, queued on submit (offline too). Where: a click on the map, the device's
/// position, a place found by name among the incidents on this device, or typed
/// coordinates (the keyboard path).
#[component]
fn ReportScreen(info: AppInfo) -> impl IntoView {
    let (now, offset) = now_local();
    let (category, set_category) = signal(String::new());
    let (when, set_when) = signal(now);
    let (lat, set_lat) = signal(String::new());
    let (lon, set_lon) = signal(String::new());
    let (place, set_place) = signal(String::new());
    let (description, set_description) = signal(String::new());
    let (anonymous, set_anonymous) = signal(false);
    let (draft, set_draft) = signal(None::<String>);
    let (note, set_note) = signal(None::<Note>);
    let (where_note, set_where_note) = signal(None::<Note>);
    // The risk hint where the report happened, at this hour, once the place is known.
    let place_hint = LocalResource::new(move || {
        let at = (
            lat.get().trim().parse::<f64>(),
            lon.get().trim().parse::<f64>(),
        );
        async move {
            match at {
                (Ok(lat), Ok(lon)) => Some(invoke::risk_hint(lat, lon).await),
                _ => None,
            }
        }
    });
    let (photos, set_photos) = signal(Vec::<Photo>::new());
    let (found, set_found) = signal(Vec::<Place>::new());
    let (busy, set_busy) = signal(false);
    let tiles = LocalResource::new(invoke::tile_url);

    let form = move || ReportForm {
        category: category.get_untracked(),
        when: when.get_untracked(),
        offset_minutes: offset,
        lat: lat.get_untracked(),
        lon: lon.get_untracked(),
        place: place.get_untracked(),
        description: description.get_untracked(),
        anonymous: anonymous.get_untracked(),
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
    let at = Signal::derive(move || {
        let lat = lat.get().trim().parse::<f64>().ok()?;
        let lon = lon.get().trim().parse::<f64>().ok()?;
        Some((lat, lon))
    });
    let set_point = move |(la, lo): (f64, f64)| {
        set_lat.set(coordinate_text(la));
        set_lon.set(coordinate_text(lo));
        autosave();
    };
    let on_pick = Callback::new(set_point);
    let locate = move |_| {
        set_where_note.set(Some(Note::Done(text::LOCATING.into())));
        spawn_local(async move {
            set_where_note.set(Some(match photo::position().await {
                Ok((la, lo, accuracy)) => {
                    set_point((la, lo));
                    Note::Done(text::position_found(accuracy))
                }
                Err(why) => Note::Failed(text::position_failed(&why)),
            }));
        });
    };
    let choose = move |p: Place| {
        set_found.set(Vec::new());
        set_place.set(p.name.clone());
        set_point((p.location.lat, p.location.lon));
        set_where_note.set(Some(Note::Done(text::place_choice(&p.name, p.incidents))));
    };
    let find = move |_| {
        let wanted = place.get_untracked();
        spawn_local(async move {
            match invoke::places(&wanted).await {
                Ok(list) if list.is_empty() => {
                    set_found.set(Vec::new());
                    set_where_note.set(Some(Note::Failed(text::NO_PLACE_FOUND.into())));
                }
                Ok(mut list) if list.len() == 1 => choose(list.remove(0)),
                Ok(list) => {
                    set_where_note.set(None);
                    set_found.set(list);
                }
                Err(e) => set_where_note.set(Some(Note::Failed(e.to_string()))),
            }
        });
    };
    let refresh_photos = move |id: String| {
        spawn_local(async move {
            set_photos.set(invoke::photos(&id).await.unwrap_or_default());
        });
    };
    let on_photo = move |ev: leptos::ev::Event| {
        // Not an autosave: the photo handler saves the draft itself.
        ev.stop_propagation();
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|files| files.get(0)) else {
            return;
        };
        input.set_value("");
        let draft_input = match form().to_input() {
            Ok(i) => i,
            Err(e) => {
                set_note.set(Some(Note::Failed(e.to_string())));
                return;
            }
        };
        set_note.set(Some(Note::Done(text::RESIZING.into())));
        set_busy.set(true);
        spawn_local(async move {
            let outcome = async {
                let resized = photo::resize(&file).await?;
                let id = match draft.get_untracked() {
                    Some(id) => id,
                    None => {
                        let saved = invoke::save_draft(None, &draft_input)
                            .await
                            .map_err(|e| e.to_string())?;
                        set_draft.set(Some(saved.id.clone()));
                        saved.id
                    }
                };
                invoke::attach_photo(&id, &resized.bytes, resized.width, resized.height)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(id)
            }
            .await;
            set_busy.set(false);
            match outcome {
                Ok(id) => {
                    set_note.set(Some(Note::Done(text::DRAFT_SAVED.into())));
                    refresh_photos(id);
                }
                Err(why) => set_note.set(Some(Note::Failed(text::photo_failed(&why)))),
            }
        });
    };
    let remove = move |id: String, n: u32| {
        spawn_local(async move {
            if let Err(e) = invoke::remove_photo(&id, n).await {
                set_note.set(Some(Note::Failed(e.to_string())));
            }
            refresh_photos(id);
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
                    set_photos.set(Vec::new());
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
            <fieldset class="where">
                <legend>{text::FIELD_WHERE}</legend>
                <p class="status">{text::PICK_ON_MAP}</p>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let tiles = tiles.await.unwrap_or_else(|_| text::DEFAULT_TILES.to_owned());
                        view! { <PickMap tiles at on_pick /> }
                    })}
                </Suspense>
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
                    <button id="locate" type="button" class="secondary" on:click=locate>{text::USE_MY_POSITION}</button>
                </div>
                <div class="row">
                    <label>
                        {text::FIELD_PLACE}
                        <input
                            id="place"
                            prop:value=place
                            on:input=move |ev| set_place.set(event_target_value(&ev))
                        />
                    </label>
                    <button id="find-place" type="button" class="secondary" on:click=find>{text::FIND_PLACE}</button>
                </div>
                {move || {
                    let list = found.get();
                    (!list.is_empty()).then(|| view! {
                        <ul class="items places">
                            {list.into_iter().map(|p| {
                                let line = text::place_choice(&p.name, p.incidents);
                                view! {
                                    <li><button type="button" class="link place" on:click=move |_| choose(p.clone())>{line}</button></li>
                                }
                            }).collect_view()}
                        </ul>
                    })
                }}
                <div id="where-note"><NoteLine note=where_note /></div>
                <div id="place-hint">
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            match place_hint.await {
                                Some(Ok(p)) => view! { <HintLine hint=p.hint note=p.hint_note /> }.into_any(),
                                Some(Err(e)) => view! { <p class="hint none">{e.to_string()}</p> }.into_any(),
                                None => ().into_any(),
                            }
                        })}
                    </Suspense>
                </div>
            </fieldset>
            <label>
                {text::FIELD_DESCRIPTION}
                <textarea
                    id="description"
                    rows="4"
                    prop:value=description
                    on:input=move |ev| set_description.set(event_target_value(&ev))
                ></textarea>
            </label>
            <label>
                {text::FIELD_PHOTO}
                <input id="photo" type="file" accept="image/*" on:change=on_photo />
            </label>
            {move || {
                let list = photos.get();
                (!list.is_empty()).then(|| view! {
                    <ul class="items photos">
                        {list.into_iter().map(|p| {
                            let (id, n) = (p.report_id.clone(), p.n);
                            view! {
                                <li class="item photo" data-n=p.n>
                                    <Thumb report_id=p.report_id.clone() n=p.n />
                                    <span class="dims">{text::photo_line(p.width, p.height, p.bytes)}</span>
                                    <button type="button" class="link" on:click=move |_| remove(id.clone(), n)>{text::REMOVE}</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                })
            }}
            <label class="check">
                <input
                    id="anonymous"
                    type="checkbox"
                    prop:checked=anonymous
                    on:change=move |ev| set_anonymous.set(event_target_checked(&ev))
                />
                {text::FIELD_ANONYMOUS}
            </label>
            <button id="submit" type="submit" class="primary">{text::SUBMIT}</button>
            <div id="report-note"><NoteLine note /></div>
        </form>
        <DraftsList version=note />
    }
}

/// A photo kept on this device, small.
#[component]
fn Thumb(report_id: String, n: u32) -> impl IntoView {
    let url = LocalResource::new(move || {
        let id = report_id.clone();
        async move { invoke::photo(&id, n).await }
    });
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                url.await.ok().map(|src| view! { <img class="thumb" src=src alt=text::PHOTOS_TITLE /> })
            })}
        </Suspense>
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
                Ok(s) => Note::Done(text::synced(
                    s.sent, s.rejected, s.pulled, s.alerts, s.photos,
                )),
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

/// Incidents: the cached incidents, newest first, on a map and in a list with the same
/// filters; a click on either (or Enter on a list item) opens the incident's details.
#[component]
fn IncidentsScreen(info: AppInfo) -> impl IntoView {
    let (area, set_area) = signal(String::new());
    let items = LocalResource::new(move || {
        let area = area.get();
        invoke::incidents((!area.is_empty()).then_some(area))
    });
    let areas = LocalResource::new(invoke::areas);
    let tiles = LocalResource::new(invoke::tile_url);
    let (category, set_category) = signal(String::new());
    let (days, set_days) = signal(String::new());
    let (selected, set_selected) = signal(None::<String>);
    let on_select = Callback::new(move |id: String| set_selected.set(Some(id)));
    let close = Callback::new(move |()| set_selected.set(None));
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
                <label>
                    {text::FIELD_AREA}
                    <select id="filter-area" on:change=move |ev| set_area.set(event_target_value(&ev))>
                        <option value="">{text::EVERYWHERE}</option>
                        <Suspense fallback=|| ()>
                            {move || Suspend::new(async move {
                                areas.await.unwrap_or_default().into_iter().map(|a| {
                                    view! { <option value=a.id.clone()>{a.name}</option> }
                                }).collect_view()
                            })}
                        </Suspense>
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
                    listed(list, text::INCIDENTS_EMPTY, |list| {
                        let shown = list.clone();
                        view! {
                            {move || {
                                let id = selected.get()?;
                                let incident = shown.iter().find(|i| i.id == id)?.clone();
                                Some(view! { <IncidentDetail incident label close /> })
                            }}
                            <IncidentMap incidents=list.clone() tiles label on_select />
                            <p class="status">{text::incident_count(list.len())}</p>
                            <ul class="items incidents">
                                {list.into_iter().map(|i| {
                                    let id = i.id.clone();
                                    view! {
                                        <li class="item" data-status=i.status.clone()>
                                            <button type="button" class="open" title=text::OPEN_DETAIL
                                                on:click=move |_| on_select.run(id.clone())>
                                                <strong>{info.label(&i.category)}</strong>
                                                <time>{i.occurred_at}</time>
                                                <span class="desc">{i.description}</span>
                                                <span class="source">{
                                                    match i.source.feed {
                                                        Some(feed) => text::feed_source(&feed),
                                                        None => text::FROM_RESIDENT.to_owned(),
                                                    }
                                                }</span>
                                            </button>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    })
                })}}
            </Suspense>
        </div>
    }
}

/// A risk hint (its level and reason, with what it is and is not on hover), or why there
/// is none.
#[component]
fn HintLine(hint: Option<invoke::Hint>, note: Option<String>) -> impl IntoView {
    match (hint, note) {
        (Some(h), _) => view! {
            <p class="hint" data-level=h.level.clone() title=text::HINT_NOTE>
                <strong>{text::risk_level(&h.level)}</strong>" "{h.reason}
            </p>
        }
        .into_any(),
        (None, Some(note)) => view! { <p class="hint none">{note}</p> }.into_any(),
        (None, None) => ().into_any(),
    }
}

/// One incident in full: what, when, where, its status and where it came from, and the
/// photos this device holds for it. Escape or Close shuts it.
#[component]
fn IncidentDetail(
    incident: Incident,
    label: Callback<String, String>,
    close: Callback<()>,
) -> impl IntoView {
    let close_button = NodeRef::<leptos::html::Button>::new();
    let section = NodeRef::<leptos::html::Section>::new();
    // The detail comes into view (a marker click opens it below the map) and focus moves
    // into it, so Escape and Tab work from the keyboard at once.
    Effect::new(move |_| {
        if let Some(s) = section.get() {
            s.scroll_into_view();
        }
        if let Some(b) = close_button.get() {
            let _ = b.focus();
        }
    });
    let id = incident.id.clone();
    let photos = LocalResource::new(move || {
        let id = id.clone();
        async move { invoke::photos(&id).await.unwrap_or_default() }
    });
    let source = match &incident.source.feed {
        Some(feed) => text::feed_source(feed),
        None => text::FROM_RESIDENT.to_owned(),
    };
    let record = incident.source.record_id.clone();
    let url = incident.source.url.clone();
    view! {
        <section id="incident-detail" class="detail" role="dialog" node_ref=section aria-label=text::DETAIL_TITLE
            data-id=incident.id.clone()
            on:keydown=move |e: leptos::ev::KeyboardEvent| {
                if e.key() == "Escape" {
                    close.run(());
                }
            }>
            <header>
                <h3>{label.run(incident.category.clone())}</h3>
                <span class="badge status" data-status=incident.status.clone()>{text::status(&incident.status)}</span>
                <button type="button" id="close-detail" class="link" node_ref=close_button
                    on:click=move |_| close.run(())>{text::CLOSE}</button>
            </header>
            <p class="desc">{incident.description.clone()}</p>
            <dl class="facts">
                <dt>{text::FIELD_OCCURRED}</dt><dd>{incident.occurred_at.clone()}</dd>
                <dt>{text::FIELD_REPORTED}</dt><dd>{incident.reported_at.clone()}</dd>
                <dt>{text::FIELD_WHERE}</dt>
                <dd>{
                    let at = format!("{:.5}, {:.5}", incident.location.lat, incident.location.lon);
                    match incident.place.clone() {
                        Some(place) => format!("{place} ({at})"),
                        None => at,
                    }
                }</dd>
                <dt>{text::FIELD_SOURCE}</dt><dd class="provenance">{source}</dd>
                {record.map(|r| view! { <dt>{text::FIELD_RECORD}</dt><dd>{r}</dd> })}
                {url.map(|u| view! { <dt>"URL"</dt><dd><code>{u}</code></dd> })}
                <dt>{text::FIELD_VERSION}</dt><dd>{incident.version}</dd>
            </dl>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = photos.await;
                    (!list.is_empty()).then(|| view! {
                        <h4>{text::PHOTOS_TITLE}</h4>
                        <ul class="items photos">
                            {list.into_iter().map(|p| view! {
                                <li class="item photo" data-n=p.n data-uploaded=p.uploaded.to_string()>
                                    <Thumb report_id=p.report_id.clone() n=p.n />
                                    <span class="dims">{text::photo_line(p.width, p.height, p.bytes)}</span>
                                    <span class="badge">{text::photo_state(p.uploaded, p.refused)}</span>
                                    {p.last_error.map(|e| view! { <span class="why">{e}</span> })}
                                </li>
                            }).collect_view()}
                        </ul>
                    })
                })}
            </Suspense>
        </section>
    }
}

/// Dashboard: a heat map of the incidents in the map's view, and for the district at its
/// centre the incidents by month and category and by hour of the week. The counts come
/// from the server (its batch views merged with the speed layer).
#[component]
fn DashboardScreen(info: AppInfo) -> impl IntoView {
    let tiles = LocalResource::new(invoke::tile_url);
    let (view_box, set_view_box) = signal(None::<[f64; 4]>);
    let data = LocalResource::new(move || {
        let view = view_box.get();
        async move {
            match view {
                Some(v) => invoke::dashboard(v).await.map(Some),
                None => Ok(None),
            }
        }
    });
    let current = move || data.get().and_then(|d| d.ok().flatten());
    let cells = Signal::derive(move || current().map(|d| d.cells).unwrap_or_default());
    let res = Signal::derive(move || current().map_or(8, |d| d.res));
    let on_view = Callback::new(move |v: [f64; 4]| set_view_box.set(Some(v)));
    let label = Callback::new(move |code: String| info.label(&code));
    view! {
        <div class="card dashboard">
            <h2>{text::DASHBOARD_TITLE}</h2>
            <p class="status">{text::DASHBOARD_HINT}</p>
            <h3>{text::HEAT_TITLE}</h3>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let tiles = tiles.await.unwrap_or_else(|_| text::DEFAULT_TILES.to_owned());
                    view! { <HeatMap tiles cells res on_view /> }
                })}
            </Suspense>
            {move || match data.get() {
                None | Some(Ok(None)) => view! { <p class="status">{text::LOADING}</p> }.into_any(),
                Some(Err(e)) => view! { <p class="note failed" role="alert">{e.to_string()}</p> }.into_any(),
                Some(Ok(Some(d))) => {
                    let total: i64 = d.cells.iter().map(|c| c.count).sum();
                    view! {
                        <p id="heat-summary" class="status">{text::cells_counted(d.cells.len(), total, d.res)}</p>
                        {d.as_of.clone().map(|when| view! { <p class="status">{text::as_of(&when, d.partial)}</p> })}
                        <h3>{text::TRENDS_TITLE}</h3>
                        {if d.months.is_empty() {
                            view! { <p class="status">{text::DASHBOARD_EMPTY}</p> }.into_any()
                        } else {
                            view! { <MonthChart months=d.months.clone() label /> }.into_any()
                        }}
                        <h3>{text::HOURS_TITLE}</h3>
                        <HourOfWeek hours=d.hour_of_week.clone() />
                    }.into_any()
                }
            }}
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
    // The shape being drawn, from the form's fields (typed or set by map clicks).
    let drawing = Signal::derive(move || match shape.get() {
        ShapeKind::Circle => {
            let lat = lat.get().trim().parse::<f64>().ok()?;
            let lon = lon.get().trim().parse::<f64>().ok()?;
            let radius_m = radius.get().trim().parse::<f64>().unwrap_or(0.0);
            Some(Shape::Circle { lat, lon, radius_m })
        }
        ShapeKind::Polygon => parse_points(&points.get())
            .ok()
            .filter(|p| !p.is_empty())
            .map(|points| Shape::Polygon { points }),
    });
    let on_click = Callback::new(move |(la, lo): (f64, f64)| match shape.get_untracked() {
        ShapeKind::Circle => {
            set_lat.set(coordinate_text(la));
            set_lon.set(coordinate_text(lo));
        }
        ShapeKind::Polygon => set_points.update(|p| {
            if !p.is_empty() && !p.ends_with('\n') {
                p.push('\n');
            }
            p.push_str(&format!(
                "{}, {}\n",
                coordinate_text(la),
                coordinate_text(lo)
            ));
        }),
    });
    let tiles = LocalResource::new(invoke::tile_url);
    let options = category_options(&info);
    view! {
        <div class="card">
            <h2>{text::AREAS_TITLE}</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let tiles = tiles.await.unwrap_or_else(|_| text::DEFAULT_TILES.to_owned());
                    let saved = areas.await.map(|l| l.into_iter().map(|a| a.shape).collect()).unwrap_or_default();
                    view! { <AreaMap tiles saved drawing on_click /> }
                })}
            </Suspense>
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
                                            <HintLine hint=a.hint note=a.hint_note />
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
                        Ok(Some(a)) => {
                            // After signing out, the form offers the same server again.
                            set_server.set(a.server.clone());
                            view! {
                                <p id="account">{text::signed_in(&a.username, &a.server)}</p>
                                <button id="sign-out" type="button" class="secondary" on:click=sign_out>{text::SIGN_OUT}</button>
                            }.into_any()
                        }
                        Ok(None) => view! {
                            <p id="account">{text::NOT_SIGNED_IN}</p>
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
                        }.into_any(),
                        Err(e) => view! { <p class="note failed">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <NoteLine note />
            <TilesSetting />
            <ExportSetting />
        </div>
    }
}

/// Watch groups: one's groups with one's role, joining with a code, starting one; for
/// moderators, invitations and the reports waiting for review.
#[component]
fn GroupsScreen(info: AppInfo) -> impl IntoView {
    let (version, set_version) = signal(0u32);
    let groups = LocalResource::new(move || {
        version.get();
        invoke::groups()
    });
    let (code, set_code) = signal(String::new());
    let (name, set_name) = signal(String::new());
    let (note, set_note) = signal(None::<Note>);
    let join = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        spawn_local(async move {
            set_note.set(Some(
                match invoke::join_group(&code.get_untracked()).await {
                    Ok(g) => {
                        set_code.set(String::new());
                        Note::Done(text::group_joined(&g.name))
                    }
                    Err(e) => Note::Failed(e.to_string()),
                },
            ));
            set_version.update(|v| *v += 1);
        });
    };
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        spawn_local(async move {
            set_note.set(Some(
                match invoke::create_group(&name.get_untracked()).await {
                    Ok(g) => {
                        set_name.set(String::new());
                        Note::Done(text::group_created(&g.name))
                    }
                    Err(e) => Note::Failed(e.to_string()),
                },
            ));
            set_version.update(|v| *v += 1);
        });
    };
    view! {
        <div class="card">
            <h2>{text::GROUPS_TITLE}</h2>
            <p class="status">{text::GROUPS_HINT}</p>
            <Suspense fallback=|| view! { <p class="status">{text::LOADING}</p> }>
                {move || {
                    let info = info.clone();
                    Suspend::new(async move {
                        listed(groups.await, text::GROUPS_EMPTY, move |list| view! {
                            <ul class="items groups">
                                {list.into_iter().map(|g| {
                                    let tools = g.moderates().then(|| view! { <GroupTools group=g.clone() info=info.clone() /> });
                                    view! {
                                        <li class="item group" data-role=g.role.clone()>
                                            <strong>{g.name.clone()}</strong>
                                            <span>{text::members(g.members)}</span>
                                            <span class="badge sent">{text::role(&g.role)}</span>
                                            {tools}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any())
                    })
                }}
            </Suspense>
            <form class="row inline" on:submit=join>
                <label>
                    {text::FIELD_JOIN_CODE}
                    <input id="join-code" autocomplete="off" prop:value=code on:input=move |ev| set_code.set(event_target_value(&ev)) />
                </label>
                <button id="join-group" type="submit" class="secondary">{text::JOIN}</button>
            </form>
            <form class="row inline" on:submit=create>
                <label>
                    {text::FIELD_GROUP_NAME}
                    <input id="group-name" prop:value=name on:input=move |ev| set_name.set(event_target_value(&ev)) />
                </label>
                <button id="create-group" type="submit" class="secondary">{text::CREATE_GROUP}</button>
            </form>
            <NoteLine note />
        </div>
    }
}

/// A moderator's tools for one group: a new invitation, and the reports waiting for a
/// decision (verify, reject with a reason, or the same as the nearest other report).
#[component]
fn GroupTools(group: invoke::Group, info: AppInfo) -> impl IntoView {
    let (version, set_version) = signal(0u32);
    let id = group.id.clone();
    let queue = LocalResource::new(move || {
        version.get();
        let id = id.clone();
        async move { invoke::moderation_queue(&id).await }
    });
    let (invite, set_invite) = signal(None::<invoke::Invite>);
    let (note, set_note) = signal(None::<Note>);
    let gid = group.id.clone();
    let new_invite = move |_| {
        let gid = gid.clone();
        spawn_local(async move {
            match invoke::invite(&gid).await {
                Ok(i) => set_invite.set(Some(i)),
                Err(e) => set_note.set(Some(Note::Failed(e.to_string()))),
            }
        });
    };
    let gid = StoredValue::new(group.id.clone());
    let decide = move |incident: String, decision: serde_json::Value| {
        spawn_local(async move {
            set_note.set(Some(
                match invoke::decide(&gid.get_value(), &incident, decision).await {
                    Ok(status) => Note::Done(text::decided(&status)),
                    Err(e) => Note::Failed(e.to_string()),
                },
            ));
            set_version.update(|v| *v += 1);
        });
    };
    view! {
        <div class="group-tools">
            <button type="button" class="secondary invite" on:click=new_invite>{text::INVITE}</button>
            {move || invite.get().map(|i| view! {
                <p class="invite-code">
                    <code class="code">{i.code}</code>" "<code class="link">{i.link}</code>
                    <br />{text::invite_shown(&i.expires_at, i.max_uses)}
                </p>
            })}
            <h3>{text::QUEUE_TITLE}</h3>
            <Suspense fallback=|| ()>
                {move || {
                    let info = info.clone();
                    Suspend::new(async move {
                        listed(queue.await, text::QUEUE_EMPTY, move |list| view! {
                            <ul class="items queue">
                                {list.into_iter().map(|q| {
                                    let (reason, set_reason) = signal(String::new());
                                    let id = q.incident.id.clone();
                                    let (verify_id, reject_id) = (id.clone(), id.clone());
                                    let nearest = q.duplicates.first().cloned();
                                    let dup_line = nearest.as_ref().map(|d| text::possible_duplicates(q.duplicates.len(), d.distance_m));
                                    let merge = nearest.map(|d| {
                                        let id = id.clone();
                                        view! {
                                            <button type="button" class="secondary merge"
                                                on:click=move |_| decide(id.clone(), serde_json::json!({"action": "merge", "into": d.id.clone()}))>
                                                {text::MERGE}
                                            </button>
                                        }
                                    });
                                    view! {
                                        <li class="item queued" data-id=id.clone()>
                                            <strong>{info.label(&q.incident.category)}</strong>
                                            <time>{q.incident.occurred_at.clone()}</time>
                                            <span class="desc">{q.incident.description.clone()}</span>
                                            <span class="why">{text::reported_by(q.reporter.as_deref())}</span>
                                            {q.private.then(|| view! { <span class="badge pending">{text::PRIVATE}</span> })}
                                            {dup_line.map(|l| view! { <p class="hint none">{l}</p> })}
                                            <div class="decide row inline">
                                                <label>
                                                    {text::FIELD_REJECT_REASON}
                                                    <input class="reason" prop:value=reason on:input=move |ev| set_reason.set(event_target_value(&ev)) />
                                                </label>
                                                <div class="buttons">
                                                    <button type="button" class="primary verify"
                                                        on:click=move |_| decide(verify_id.clone(), serde_json::json!({"action": "verify"}))>
                                                        {text::VERIFY}
                                                    </button>
                                                    <button type="button" class="secondary reject"
                                                        on:click=move |_| decide(reject_id.clone(), serde_json::json!({"action": "reject", "reason": reason.get_untracked()}))>
                                                        {text::REJECT}
                                                    </button>
                                                    {merge}
                                                </div>
                                            </div>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any())
                    })
                }}
            </Suspense>
            <NoteLine note />
        </div>
    }
}

/// Export of everything the server holds about the account, to a file.
#[component]
fn ExportSetting() -> impl IntoView {
    let (note, set_note) = signal(None::<Note>);
    let export = move |_| {
        set_note.set(Some(Note::Done(text::LOADING.into())));
        spawn_local(async move {
            set_note.set(Some(match invoke::export_data().await {
                Ok(path) => Note::Done(text::exported(&path)),
                Err(e) => Note::Failed(e.to_string()),
            }));
        });
    };
    view! {
        <section class="export">
            <h3>{text::EXPORT_TITLE}</h3>
            <p class="status">{text::EXPORT_HINT}</p>
            <button id="export" type="button" class="secondary" on:click=export>{text::EXPORT}</button>
            <div id="export-note"><NoteLine note /></div>
        </section>
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
            <button id="save-tiles" type="submit" class="secondary">{text::SAVE}</button>
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
            <h2>{text::KEYS_TITLE}</h2>
            <p class="keys">{text::KEYS_HELP}</p>
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
