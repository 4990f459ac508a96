//! What a storefront may know of who acted on its order: a class of actor
//! (`storefront`, `staff`, `payments`, `system`), never the key and user ids
//! that `actor` holds for everyone else.

use std::collections::HashMap;

use sqlx::PgPool;
use uuid::Uuid;

/// The class shown for an actor whose key is gone or unknown.
const UNKNOWN: &str = "staff";

/// Replaces each actor with its class. Keys are classed by their role,
/// looked up once for the page.
pub async fn classify(pool: &PgPool, actors: &mut [Option<String>]) -> Result<(), sqlx::Error> {
    let keys: Vec<Uuid> = actors
        .iter()
        .flatten()
        .filter_map(|a| a.strip_prefix("key:"))
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect();
    let roles: HashMap<Uuid, String> = if keys.is_empty() {
        HashMap::new()
    } else {
        sqlx::query_as("SELECT id, role FROM api_keys WHERE id = ANY($1)")
            .bind(&keys)
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect()
    };
    for actor in actors.iter_mut() {
        *actor = actor.as_deref().map(|a| class_of(a, &roles).to_owned());
    }
    Ok(())
}

fn class_of<'a>(actor: &str, roles: &'a HashMap<Uuid, String>) -> &'a str {
    if actor.starts_with("system:") {
        return "system";
    }
    let Some(key) = actor
        .strip_prefix("key:")
        .and_then(|id| Uuid::parse_str(id).ok())
    else {
        // Console users are staff.
        return UNKNOWN;
    };
    match roles.get(&key).map(String::as_str) {
        Some("storefront") => "storefront",
        Some("payments") => "payments",
        _ => UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_actor_becomes_a_class_and_no_id_survives() {
        let (storefront, payments, staff) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let roles = HashMap::from([
            (storefront, "storefront".to_owned()),
            (payments, "payments".to_owned()),
            (staff, "admin".to_owned()),
        ]);
        let cases = [
            (format!("key:{storefront}"), "storefront"),
            (format!("key:{payments}"), "payments"),
            (format!("key:{staff}"), "staff"),
            (format!("key:{}", Uuid::now_v7()), "staff"),
            (format!("user:{}", Uuid::now_v7()), "staff"),
            ("system:expirer".to_owned(), "system"),
            ("key:not-a-uuid".to_owned(), "staff"),
        ];
        for (actor, class) in cases {
            assert_eq!(class_of(&actor, &roles), class, "{actor}");
        }
    }
}
