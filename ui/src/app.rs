//! The root component: the product name and what the shell reports about this
//! client build, or a plain explanation when the shell cannot be reached.

use leptos::prelude::*;

use crate::invoke::{self, AppInfo};

/// The whole window.
#[component]
pub fn App() -> impl IntoView {
    // Local, not Send: the shell call is a JS promise.
    let info = LocalResource::new(invoke::app_info);

    view! {
        <main class="shell">
            <header class="masthead">
                <h1>"Vigil"</h1>
                <p class="tagline">"Neighbourhood safety reports"</p>
            </header>
            <Suspense fallback=|| view! { <p class="status">"Loading…"</p> }>
                <ErrorBoundary fallback=|errors| view! { <ShellError errors /> }>
                    {move || Suspend::new(async move {
                        info.await.map(|info| view! { <BuildInfo info /> })
                    })}
                </ErrorBoundary>
            </Suspense>
        </main>
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
            <h2>"Report categories"</h2>
            <ul class="categories">{categories}</ul>
            <dl class="versions">
                <dt>"Sync protocol"</dt>
                <dd>{info.protocol}</dd>
                <dt>"Client version"</dt>
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
            <h2>"The desktop shell could not be reached"</h2>
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
