//! People who sign in to the portal: their e-mail addresses and the operator's staff roles.

/// The operator's staff roles (the console is theirs).
pub const STAFF_ROLES: [&str; 3] = ["admin", "reviewer", "partner-manager"];

/// A sign-in address, lower-cased; why it is refused otherwise.
pub fn check_email(email: &str) -> Result<String, String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err(format!("{email:?} is not an e-mail address"))
    }
}
