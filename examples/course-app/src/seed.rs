//! The schema (created at start) and the demo data of the scenario world: three apps, and for
//! each one customers in every state (recent, old and very old purchases, team licences with an
//! admin and seat holders, and known users without a purchase).

use crate::time::DAY_MS;

/// The course store's tables. Plain SQLite, created with `IF NOT EXISTS` on every start.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS products (
        id TEXT PRIMARY KEY, app TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
        price_cents INTEGER NOT NULL, currency TEXT NOT NULL, seats INTEGER,
        billing_interval TEXT, state TEXT NOT NULL DEFAULT 'active')",
    "CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT, created_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS purchases (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
        product_id TEXT NOT NULL REFERENCES products(id), purchased_at INTEGER NOT NULL,
        amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, stripe_charge_id TEXT,
        status TEXT NOT NULL, bulk_coupon_id TEXT, seats INTEGER, redeemed_coupon_id TEXT,
        refund_id TEXT, revoke_reason TEXT)",
    "CREATE INDEX IF NOT EXISTS purchases_user ON purchases (user_id)",
    "CREATE TABLE IF NOT EXISTS seats (
        bulk_coupon_id TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES users(id),
        claimed_at INTEGER NOT NULL, PRIMARY KEY (bulk_coupon_id, user_id))",
    "CREATE TABLE IF NOT EXISTS subscriptions (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
        product_id TEXT NOT NULL REFERENCES products(id), status TEXT NOT NULL,
        period_start INTEGER NOT NULL, period_end INTEGER NOT NULL,
        cancel_at_period_end INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS transfers (
        id TEXT PRIMARY KEY, purchase_id TEXT NOT NULL, new_purchase_id TEXT NOT NULL,
        from_user_id TEXT NOT NULL, to_user_id TEXT NOT NULL, at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS magic_links (
        token TEXT PRIMARY KEY, email TEXT NOT NULL, created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL, used_at INTEGER)",
    "CREATE TABLE IF NOT EXISTS lessons (
        id TEXT PRIMARY KEY, product_id TEXT NOT NULL REFERENCES products(id),
        module TEXT NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL,
        minutes INTEGER NOT NULL, free INTEGER NOT NULL DEFAULT 0, position INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS coupons (
        code TEXT PRIMARY KEY, name TEXT NOT NULL, discount_type TEXT NOT NULL,
        amount INTEGER NOT NULL, restriction TEXT, usage_count INTEGER NOT NULL DEFAULT 0,
        max_uses INTEGER, expires_at INTEGER, public INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS activity (
        user_id TEXT NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL, at INTEGER NOT NULL)",
];

/// A product of one of the three apps. Amounts are in cents.
pub struct Product {
    pub id: &'static str,
    pub app: &'static str,
    pub name: &'static str,
    /// `self-paced` or `membership`.
    pub kind: &'static str,
    pub price_cents: i64,
    pub seats: Option<i64>,
    pub billing_interval: Option<&'static str>,
}

const fn product(
    id: &'static str,
    app: &'static str,
    name: &'static str,
    kind: &'static str,
    price_cents: i64,
    seats: Option<i64>,
    billing_interval: Option<&'static str>,
) -> Product {
    Product {
        id,
        app,
        name,
        kind,
        price_cents,
        seats,
        billing_interval,
    }
}

#[rustfmt::skip]
pub const PRODUCTS: &[Product] = &[
    product("typewise-core", "typescript-course", "Typewise Core", "self-paced", 24_900, None, None),
    product("typewise-pro", "typescript-course", "Typewise Pro", "self-paced", 44_900, None, None),
    product("typewise-pro-team", "typescript-course", "Typewise Pro (team license, 10 seats)", "self-paced", 359_000, Some(10), None),
    product("atelier", "tailwind-course", "Tailwind Atelier", "self-paced", 17_900, None, None),
    product("atelier-team", "tailwind-course", "Tailwind Atelier (team license, 5 seats)", "self-paced", 74_900, Some(5), None),
    product("aiw-monthly", "ai-workshops", "Applied AI Workshops: monthly membership", "membership", 4_900, None, Some("month")),
    product("aiw-annual", "ai-workshops", "Applied AI Workshops: annual membership", "membership", 39_900, None, Some("year")),
    product("aiw-team-annual", "ai-workshops", "Applied AI Workshops: team annual membership (8 seats)", "membership", 249_000, Some(8), Some("year")),
];

/// How a demo customer relates to the products (the scenario set's `customer` states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A purchase `days` ago of `product` (recent < 30, old 30–45, very old > 45).
    Buyer { product: &'static str, days: i64 },
    /// Bought the team licence `product` `days` ago and administers bulk coupon `coupon`.
    TeamAdmin {
        product: &'static str,
        days: i64,
        coupon: &'static str,
    },
    /// Claimed a seat of `coupon` `days` ago.
    Seat { coupon: &'static str, days: i64 },
    /// Known, no purchase.
    NoPurchase,
}

/// One demo customer: app, scenario state, email, name and role.
pub struct Customer {
    pub app: &'static str,
    pub state: &'static str,
    pub email: &'static str,
    pub name: &'static str,
    pub role: Role,
}

const fn buyer(
    app: &'static str,
    state: &'static str,
    email: &'static str,
    name: &'static str,
    product: &'static str,
    days: i64,
) -> Customer {
    Customer {
        app,
        state,
        email,
        name,
        role: Role::Buyer { product, days },
    }
}

const fn admin(
    app: &'static str,
    email: &'static str,
    name: &'static str,
    product: &'static str,
    days: i64,
    coupon: &'static str,
) -> Customer {
    Customer {
        app,
        state: "team-license",
        email,
        name,
        role: Role::TeamAdmin {
            product,
            days,
            coupon,
        },
    }
}

const fn seat(
    app: &'static str,
    email: &'static str,
    name: &'static str,
    coupon: &'static str,
    days: i64,
) -> Customer {
    Customer {
        app,
        state: "team-license",
        email,
        name,
        role: Role::Seat { coupon, days },
    }
}

const fn nobody(app: &'static str, email: &'static str, name: &'static str) -> Customer {
    Customer {
        app,
        state: "no-purchase",
        email,
        name,
        role: Role::NoPurchase,
    }
}

const TS: &str = "typescript-course";
const TW: &str = "tailwind-course";
const AI: &str = "ai-workshops";

/// The demo customers, using the senders of the scenario set so that every scenario's
/// `customer` state is what the store answers.
#[rustfmt::skip]
pub const CUSTOMERS: &[Customer] = &[
    // typescript-course
    buyer(TS, "recent-purchase", "j.schreiber@example.com", "Jana Schreiber", "typewise-pro", 6),
    buyer(TS, "recent-purchase", "javier.solis@correo.example.com", "Javier Solís", "typewise-core", 12),
    buyer(TS, "recent-purchase", "kyle.dunmore@example.com", "Kyle Dunmore", "typewise-core", 3),
    buyer(TS, "recent-purchase", "marcus.lee@example.com", "Marcus Lee", "typewise-pro", 20),
    buyer(TS, "recent-purchase", "v.santos@example.net", "Vitória Santos", "typewise-core", 9),
    buyer(TS, "recent-purchase", "accounts@kestrel-studio.test", "Kestrel Studio Accounts", "typewise-pro", 15),
    buyer(TS, "old-purchase", "ofelia.marquez@example.com", "Ofelia Márquez", "typewise-pro", 35),
    buyer(TS, "old-purchase", "eleanor.voss@example.com", "Eleanor Voss", "typewise-core", 38),
    buyer(TS, "old-purchase", "b.adeyemi@example.com", "Bola Adeyemi", "typewise-core", 41),
    buyer(TS, "very-old-purchase", "tomas.herrera@example.com", "Tomás Herrera", "typewise-pro", 60),
    buyer(TS, "very-old-purchase", "luca.bianchi@posta.example.com", "Luca Bianchi", "typewise-core", 75),
    buyer(TS, "very-old-purchase", "gabriel.santos@example.com", "Gabriel Santos", "typewise-pro", 120),
    buyer(TS, "very-old-purchase", "greta.lund@example.com", "Greta Lund", "typewise-core", 52),
    admin(TS, "finance-ops@halcyon-group.test", "Halcyon Group Finance", "typewise-pro-team", 18, "bulk_halcyon"),
    seat(TS, "priya.raman@halcyon-group.test", "Priya Raman", "bulk_halcyon", 16),
    seat(TS, "o.lindqvist@halcyon-group.test", "Oskar Lindqvist", "bulk_halcyon", 14),
    nobody(TS, "alex.b.1992@example.com", "Alex B."),
    nobody(TS, "n.patel@example.com", "Nisha Patel"),
    nobody(TS, "henrik.aas@example.net", "Henrik Aas"),
    nobody(TS, "maya.chen@student.example.org", "Maya Chen"),
    nobody(TS, "margaret.hollis@example.com", "Margaret Hollis"),
    // tailwind-course
    buyer(TW, "recent-purchase", "r.grant@example.net", "Rosa Grant", "atelier", 4),
    buyer(TW, "recent-purchase", "rhys.evans@example.com", "Rhys Evans", "atelier", 11),
    buyer(TW, "recent-purchase", "gio.pereira@example.net", "Gio Pereira", "atelier", 2),
    buyer(TW, "recent-purchase", "ana.ribeiro@correio.example.com", "Ana Ribeiro", "atelier", 17),
    buyer(TW, "recent-purchase", "priyanka.d@example.net", "Priyanka Desai", "atelier", 25),
    buyer(TW, "recent-purchase", "k.vogel@mail.example.com", "Karin Vogel", "atelier", 8),
    buyer(TW, "old-purchase", "imogen.reed@example.org", "Imogen Reed", "atelier", 33),
    buyer(TW, "old-purchase", "paul.ferguson@example.net", "Paul Ferguson", "atelier", 36),
    buyer(TW, "old-purchase", "amara.diallo@example.com", "Amara Diallo", "atelier", 39),
    buyer(TW, "old-purchase", "lucas.brandt@example.net", "Lucas Brandt", "atelier", 42),
    buyer(TW, "old-purchase", "yuki.sato@example.com", "Yuki Sato", "atelier", 44),
    buyer(TW, "very-old-purchase", "marta.sokol@example.com", "Marta Sokol", "atelier", 58),
    buyer(TW, "very-old-purchase", "sam.whitaker@example.org", "Sam Whitaker", "atelier", 90),
    buyer(TW, "very-old-purchase", "noor.haddad@example.org", "Noor Haddad", "atelier", 64),
    admin(TW, "it-admin@quarry-digital.test", "Quarry Digital IT", "atelier-team", 22, "bulk_quarry"),
    seat(TW, "j.okoro@quarry-digital.test", "Jide Okoro", "bulk_quarry", 20),
    admin(TW, "lena.fischer@brightpixel.test", "Lena Fischer", "atelier-team", 10, "bulk_brightpixel"),
    seat(TW, "tom.berg@brightpixel.test", "Tom Berg", "bulk_brightpixel", 9),
    nobody(TW, "claire.dubois@courriel.example.org", "Claire Dubois"),
    nobody(TW, "kelly.m@example.net", "Kelly M."),
    // ai-workshops
    buyer(AI, "recent-purchase", "dmitri.k@example.org", "Dmitri Kuznetsov", "aiw-annual", 8),
    buyer(AI, "recent-purchase", "ben.okafor@example.net", "Ben Okafor", "aiw-monthly", 4),
    buyer(AI, "recent-purchase", "carmen.ortiz@example.org", "Carmen Ortiz", "aiw-annual", 14),
    buyer(AI, "recent-purchase", "gwhitmore@example.org", "Grace Whitmore", "aiw-monthly", 21),
    buyer(AI, "recent-purchase", "li.wei@example.org", "Li Wei", "aiw-annual", 2),
    buyer(AI, "old-purchase", "t.nakamura@example.org", "Takeshi Nakamura", "aiw-annual", 34),
    buyer(AI, "old-purchase", "marta.nowak@example.org", "Marta Nowak", "aiw-annual", 40),
    buyer(AI, "very-old-purchase", "k.brennan@example.net", "Kieran Brennan", "aiw-annual", 70),
    buyer(AI, "very-old-purchase", "hiro.matsuda@example.org", "Hiro Matsuda", "aiw-monthly", 95),
    buyer(AI, "very-old-purchase", "f.moreau@example.org", "Fleur Moreau", "aiw-annual", 150),
    buyer(AI, "very-old-purchase", "j.ferreira@example.net", "João Ferreira", "aiw-annual", 55),
    buyer(AI, "very-old-purchase", "d.friedman@example.com", "Dana Friedman", "aiw-monthly", 200),
    admin(AI, "harriet.cole@veridian-systems.test", "Harriet Cole", "aiw-team-annual", 25, "bulk_veridian"),
    seat(AI, "s.iyer@veridian-systems.test", "Sanjay Iyer", "bulk_veridian", 23),
    admin(AI, "procurement@northwind-labs.test", "Northwind Labs Procurement", "aiw-team-annual", 12, "bulk_northwind"),
    nobody(AI, "l.castellanos@orbital-bank.test", "Lucía Castellanos"),
    nobody(AI, "free.learner@example.net", "Free Learner"),
    nobody(AI, "chidi.eze@example.com", "Chidi Eze"),
    nobody(AI, "sunita.rao@example.com", "Sunita Rao"),
];

/// A lesson: (id, product, module, title, description, minutes, free).
pub type LessonRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    bool,
);

/// Lessons for `searchContent`.
#[rustfmt::skip]
pub const LESSONS: &[LessonRow] = &[
    ("les_tw_setup", "typewise-core", "Getting started", "Setting up the exercises", "Clone the exercise repo, install dependencies and run the first test in VS Code.", 8, true),
    ("les_tw_narrowing", "typewise-core", "Type narrowing", "Narrowing with type guards", "typeof, instanceof, in and custom type predicates.", 14, false),
    ("les_tw_generics", "typewise-pro", "Generics", "Generic functions and constraints", "Infer type arguments and constrain them with extends.", 18, false),
    ("les_tw_conditional", "typewise-pro", "Advanced types", "Conditional and mapped types", "Build utility types with conditional types, infer and key remapping.", 22, false),
    ("les_at_setup", "atelier", "Foundations", "Installing Tailwind CSS v4", "Set up Tailwind with Vite and the new CSS-first configuration.", 9, true),
    ("les_at_layout", "atelier", "Layout", "Flexbox and grid layouts", "Responsive layouts with flex, grid and container queries.", 16, false),
    ("les_at_dark", "atelier", "Theming", "Dark mode and design tokens", "Theme variables, dark: variants and a token-based colour system.", 12, false),
    ("les_at_components", "atelier", "Components", "Building a component library", "Extract reusable components without @apply soup.", 20, false),
    ("les_ai_rag", "aiw-annual", "Live workshop recordings", "Retrieval-augmented generation in practice", "Recording of the RAG cohort workshop: chunking, embeddings, hybrid search and evaluation.", 95, false),
    ("les_ai_agents", "aiw-annual", "Live workshop recordings", "Building tool-using agents", "Recording: function calling, tool schemas and guard rails.", 110, false),
    ("les_ai_evals", "aiw-monthly", "Live workshop recordings", "Evaluating LLM apps", "Recording: test sets, scorers and regression tracking for prompts.", 80, false),
    ("les_ai_intro", "aiw-monthly", "Start here", "How the workshops and recordings work", "Where to find the calendar, recordings, slides and the community.", 6, true),
];

/// A coupon: (code, name, discount type, amount, restriction, max uses, public).
pub type CouponRow = (
    &'static str,
    &'static str,
    &'static str,
    i64,
    Option<&'static str>,
    Option<i64>,
    bool,
);

/// Coupons: public sales, restricted discounts and the team licences' bulk coupons.
#[rustfmt::skip]
pub const COUPONS: &[CouponRow] = &[
    ("SPRING25", "Spring sale", "percent", 25, Some("general"), None, true),
    ("STUDENT40", "Student discount", "percent", 40, Some("student"), None, false),
    ("PPP-IN", "Purchasing power parity (India)", "percent", 60, Some("ppp"), None, false),
    ("bulk_halcyon", "Halcyon Group team seats", "percent", 100, Some("bulk"), Some(10), false),
    ("bulk_quarry", "Quarry Digital team seats", "percent", 100, Some("bulk"), Some(5), false),
    ("bulk_brightpixel", "Brightpixel team seats", "percent", 100, Some("bulk"), Some(5), false),
    ("bulk_veridian", "Veridian Systems team seats", "percent", 100, Some("bulk"), Some(8), false),
    ("bulk_northwind", "Northwind Labs team seats", "percent", 100, Some("bulk"), Some(8), false),
];

pub fn product_by_id(id: &str) -> Option<&'static Product> {
    PRODUCTS.iter().find(|p| p.id == id)
}

/// A stable user id for a seeded customer (its position in [`CUSTOMERS`]).
pub fn user_id(index: usize) -> String {
    format!("usr_demo_{index:03}")
}

/// The start of the current billing period of a membership bought `days` ago.
pub fn period(purchased_at: i64, now: i64, interval: &str) -> (i64, i64) {
    let length = if interval == "year" {
        365 * DAY_MS
    } else {
        30 * DAY_MS
    };
    let elapsed = (now - purchased_at).max(0);
    let start = purchased_at + elapsed / length * length;
    (start, start + length)
}
