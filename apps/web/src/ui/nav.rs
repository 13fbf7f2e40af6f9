//! The left navigation: every page of UI.md, in order. A page that is not built yet is shown
//! as plain text ("coming"); flip `built` when its route exists.

use support_core::auth::Role;

/// A place in the navigation (which item a page highlights).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Conversations,
    Approvals,
    Audit,
    Knowledge,
    Trust,
    Sla,
    Analytics,
    DeadLetters,
    Apps,
    Users,
    /// Pages outside the navigation (login, errors).
    None,
}

/// One navigation entry.
pub struct NavItem {
    pub nav: Nav,
    pub label: &'static str,
    pub path: &'static str,
    /// Whether the page exists (else shown as "coming", not linked).
    pub built: bool,
    /// The least role that sees the entry (the server checks the page itself).
    pub role: Role,
}

/// The navigation, top to bottom.
#[rustfmt::skip]
pub const NAV: &[NavItem] = &[
    NavItem { nav: Nav::Overview, label: "Overview", path: "/", built: true, role: Role::Viewer },
    NavItem { nav: Nav::Conversations, label: "Conversations", path: "/conversations", built: true, role: Role::Viewer },
    NavItem { nav: Nav::Approvals, label: "Approvals", path: "/approvals", built: true, role: Role::Viewer },
    NavItem { nav: Nav::Audit, label: "Audit", path: "/audit", built: true, role: Role::Viewer },
    NavItem { nav: Nav::Knowledge, label: "Knowledge", path: "/knowledge", built: true, role: Role::Viewer },
    NavItem { nav: Nav::Trust, label: "Trust", path: "/trust", built: true, role: Role::Viewer },
    NavItem { nav: Nav::Sla, label: "SLA", path: "/sla", built: true, role: Role::Viewer },
    NavItem { nav: Nav::Analytics, label: "Analytics", path: "/analytics", built: true, role: Role::Viewer },
    NavItem { nav: Nav::DeadLetters, label: "Dead letters", path: "/dead-letters", built: true, role: Role::Admin },
    NavItem { nav: Nav::Apps, label: "Apps", path: "/apps", built: true, role: Role::Viewer },
    NavItem { nav: Nav::Users, label: "Users", path: "/users", built: true, role: Role::Admin },
];
