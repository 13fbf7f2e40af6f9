//! Canned templates' `{{var}}` values: what a reply fills them with ([`values`], [`fill`]) and
//! whether a template fills for a customer at all ([`fills`]: the router never matches a
//! canned response whose reply would be half-filled).

use super::inbound::CustomerFacts;
use super::profile::AppProfile;

/// The first name a reply greets: the customer's record, else the message's sign-off.
pub fn greeting_name(facts: Option<&CustomerFacts>, body: &str) -> Option<String> {
    facts
        .and_then(CustomerFacts::first_name)
        .or_else(|| super::text::signoff_first_name(body))
}

/// The value of every variable of [`crate::corpus::TEMPLATE_VARIABLES`] for a reply to the
/// customer `email` greeted as `name`, about the app of `profile` (`None`: not known, so a
/// template using it does not answer).
pub fn values(
    profile: &AppProfile,
    email: Option<&str>,
    name: Option<&str>,
) -> Vec<(&'static str, Option<String>)> {
    let product = Some(profile.product.clone()).filter(|s| !s.is_empty());
    vec![
        ("first_name", name.map(str::to_owned)),
        ("name", name.map(str::to_owned)),
        ("product", product.clone()),
        ("app_name", product),
        (
            "instructor",
            Some(profile.instructor.clone()).filter(|s| !s.is_empty()),
        ),
        ("email", email.filter(|e| !e.is_empty()).map(str::to_owned)),
    ]
}

/// Whether `template` fills for this customer and app (every variable has a value): the router
/// never matches a canned response whose reply would be half-filled.
pub fn fills(
    template: &str,
    profile: &AppProfile,
    facts: Option<&CustomerFacts>,
    body: &str,
) -> bool {
    let name = greeting_name(facts, body);
    let email = facts.map(|f| f.email.as_str());
    fill(template, &values(profile, email, name.as_deref())).is_some()
}

/// Replaces `{{var}}` placeholders. `None` when one has no value or is unknown.
pub fn fill(template: &str, vars: &[(&str, Option<String>)]) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let key = after[..end].trim();
        let value = vars
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.clone())?;
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_never_leave_placeholders() {
        let vars = [("first_name", Some("Ana".to_owned())), ("email", None)];
        assert_eq!(
            fill("Hi {{ first_name }}!", &vars).as_deref(),
            Some("Hi Ana!")
        );
        assert_eq!(fill("to {{email}}", &vars), None);
        assert_eq!(fill("{{unknown}}", &vars), None);
        assert_eq!(fill("{{broken", &vars), None);
    }
}
