//! The page shell: skip link, left navigation, top bar (user, role, app filter, sign out),
//! the flash message and the page's content.

use super::nav::{NAV, Nav};
use super::{Flash, Page, csrf_field};
use crate::auth::Viewer;
use leptos::prelude::*;

fn nav_view(viewer: &Viewer, active: Nav) -> AnyView {
    let items = NAV
        .iter()
        .filter(|i| viewer.can(i.role))
        .map(|i| {
            let current = i.nav == active;
            if i.built {
                let href = match &viewer.app {
                    Some(app) => super::with_query(i.path, &[], "app", Some(app)),
                    None => i.path.to_string(),
                };
                let aria = current.then_some("page");
                view! { <li><a href=href aria-current=aria>{i.label}</a></li> }.into_any()
            } else {
                view! {
                    <li><span class="coming" title="Not built yet">{i.label}" "<small>"coming"</small></span></li>
                }
                .into_any()
            }
        })
        .collect_view();
    view! {
        <nav class="sidenav" aria-label="Main">
            <a class="brand" href="/">"Support"</a>
            <ul>{items}</ul>
        </nav>
    }
    .into_any()
}

fn top_bar(viewer: &Viewer, apps: &[String]) -> AnyView {
    let current = viewer.app.clone().unwrap_or_default();
    let action = viewer.path.split('?').next().unwrap_or("/").to_string();
    let options = std::iter::once((String::new(), "All apps".to_string()))
        .chain(apps.iter().map(|a| (a.clone(), a.clone())))
        .map(|(v, l)| {
            let sel = v == current;
            view! { <option value=v selected=sel>{l}</option> }
        })
        .collect_view();
    let who = viewer.name.clone().unwrap_or_else(|| viewer.email.clone());
    let role = viewer.role.as_str();
    view! {
        <header class="topbar">
            <form class="appfilter" method="get" action=action>
                <label for="app-filter">"App"</label>
                <select id="app-filter" name="app">{options}</select>
                <button type="submit" class="secondary">"Apply"</button>
            </form>
            <div class="who">
                <span class="user" title=viewer.email.clone()>{who}</span>
                <span class="role badge badge-neutral">{role}</span>
                <form method="post" action="/logout" class="inline">
                    {csrf_field(viewer)}
                    <button type="submit" class="link">"Sign out"</button>
                </form>
                <form method="post" action="/logout/everywhere" class="inline">
                    {csrf_field(viewer)}
                    <button type="submit" class="link">"everywhere"</button>
                </form>
            </div>
        </header>
    }
    .into_any()
}

/// The flash message of the previous POST.
pub fn flash_view(flash: Option<&Flash>) -> AnyView {
    match flash {
        Some(f) => {
            let class = format!("flash flash-{}", f.kind);
            let role = if f.kind == "error" { "alert" } else { "status" };
            view! { <div class=class role=role>{f.message.clone()}</div> }.into_any()
        }
        None => ().into_any(),
    }
}

/// The whole body: navigation, top bar, flash, content.
pub fn shell(viewer: &Viewer, apps: &[String], page: Page) -> AnyView {
    let Page {
        title, nav, body, ..
    } = page;
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <div class="layout">
            {nav_view(viewer, nav)}
            <div class="main">
                {top_bar(viewer, apps)}
                <main id="main" tabindex="-1">
                    {flash_view(viewer.flash.as_ref())}
                    <h1>{title}</h1>
                    {body}
                </main>
            </div>
        </div>
    }
    .into_any()
}
