//! Statuses and kinds the store keeps as text, typed at the store's edge: the store parses a
//! column into one of these enums when it reads a row (an unknown value is
//! [`StoreError::Corrupt`](crate::store::StoreError::Corrupt), never a panic) and writes
//! [`as_str`](ActionStatus::as_str) back.
//!
//! A neutral module: it imports neither [`crate::store`] nor [`crate::pipeline`], so both use
//! [`UnknownValue`] and [`string_like!`] without depending on each other. Serde uses the same strings, so JSON APIs and wire
//! output read as before, and each enum compares equal to its string (`status == "pending"`).

use serde::{Deserialize, Serialize};

/// A value that is none of an enum's strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}: {value:?}")]
pub struct UnknownValue {
    /// What was parsed (`action status`, …).
    pub what: &'static str,
    pub value: String,
}

/// Comparisons with strings (both ways) for a type with `as_str(self) -> &'static str`.
macro_rules! string_like {
    ($name:ty) => {
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.as_str()
            }
        }
        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }
    };
}
pub(crate) use string_like;

/// An enum stored as one of a fixed set of strings.
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $var:ident = $s:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $s)] $var,)+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$var,)+];

            /// The stored (and serialized) string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $s,)+
                }
            }

            /// Parses a stored string.
            pub fn parse(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($s => Ok($name::$var),)+
                    _ => Err(UnknownValue { what: $what, value: s.to_string() }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }

        string_like!($name);
    };
}

stored_enum! {
    /// An app's connection state (`apps.status`).
    AppStatus ("app status") {
        Connected = "connected",
        /// E.g. Stripe deauthorized.
        Disconnected = "disconnected",
    }
}

stored_enum! {
    /// Conversation status as Front and the platform understand it (`conversations.status`).
    ConversationStatus ("conversation status") {
        New = "new",
        Open = "open",
        Pending = "pending",
        OnHold = "on_hold",
        Solved = "solved",
        Closed = "closed",
    }
}

stored_enum! {
    /// Where an action is in its life (`actions.status`).
    ActionStatus ("action status") {
        Proposed = "proposed",
        PendingApproval = "pending_approval",
        Approved = "approved",
        Rejected = "rejected",
        Expired = "expired",
        Executing = "executing",
        Executed = "executed",
        Failed = "failed",
    }
}

stored_enum! {
    /// An approval's decision (`approvals.status`).
    ApprovalStatus ("approval status") {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
        Expired = "expired",
    }
}

stored_enum! {
    /// What died (`dead_letters.kind`).
    DeadLetterKind ("dead letter kind") {
        /// A durable run that failed for good.
        Run = "run",
        /// An approved action that failed.
        Action = "action",
        /// A webhook delivery (Stripe) that could not be applied.
        Webhook = "webhook",
    }
}

stored_enum! {
    /// Where an approval was requested (`approvals.channel`: `dashboard` until it is posted to
    /// Slack) and where a vote was cast (`approval_votes.channel`).
    DecisionChannel ("decision channel") {
        /// The dashboard and its JSON API.
        Dashboard = "dashboard",
        Slack = "slack",
        /// `skill approvals approve|reject|edit`.
        Cli = "cli",
        /// The Front sidebar plugin.
        Front = "front",
    }
}

stored_enum! {
    /// A durable run's status as the dashboard reads it (`steps_runs.status`, written by the
    /// runner, `support_steps::RunStatus`).
    RunStatus ("run status") {
        /// Runnable (also: waiting out a retry backoff or a debounce).
        Queued = "queued",
        /// Leased by a worker.
        Running = "running",
        /// Only timers pending.
        Sleeping = "sleeping",
        /// Waiting for an event or an invoked function.
        Waiting = "waiting",
        Completed = "completed",
        /// Dead-lettered.
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

stored_enum! {
    /// A memoized step's status (`steps_steps.status`, `support_steps::StepStatus`).
    StepStatus ("step status") {
        Completed = "completed",
        Failed = "failed",
        /// The last attempt failed and will be retried.
        Retrying = "retrying",
    }
}

stored_enum! {
    /// What a step did (`steps_steps.kind`, the runner's `OpKind::name`).
    StepKind ("step kind") {
        Run = "run",
        Sleep = "sleep",
        WaitForEvent = "wait_for_event",
        SendEvent = "send_event",
        Invoke = "invoke",
    }
}

stored_enum! {
    /// Where an automatic send is (`autosend_sends.status`): `intent` before Front is called,
    /// `sent` after.
    AutoSendStatus ("auto-send status") {
        Intent = "intent",
        Sent = "sent",
    }
}

stored_enum! {
    /// An agent's rating of one of our drafts from the Front plugin (`draft_ratings.rating`).
    Rating ("draft rating") {
        Good = "good",
        Bad = "bad",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_and_unknown_values_are_errors() {
        for s in ActionStatus::ALL {
            assert_eq!(ActionStatus::parse(s.as_str()), Ok(*s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(ConversationStatus::OnHold, "on_hold");
        assert_eq!("pending_approval", ActionStatus::PendingApproval);
        assert_eq!(ApprovalStatus::Expired.to_string(), "expired");
        let err = ApprovalStatus::parse("maybe").unwrap_err();
        assert_eq!(err.to_string(), "unknown approval status: \"maybe\"");
        assert!(serde_json::from_str::<DeadLetterKind>("\"other\"").is_err());
        for c in DecisionChannel::ALL {
            assert_eq!(DecisionChannel::parse(c.as_str()), Ok(*c));
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::json!(c.as_str())
            );
        }
        assert_eq!(DecisionChannel::Front, "front");
        assert!(DecisionChannel::parse("email").is_err());
    }
}
