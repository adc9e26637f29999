//! Standing `PAUSE` orders of the control port: a pool created while an order matches it starts paused, so a
//! pause holds every new transaction of the pools it names, including pools that do not exist yet.
//!
//! A filter names a pool by any of its identifying words (engine, server, role, user, database) or is `*`
//! (every pool). Deliberately not here: pausing the pools that already exist (the caller does that).

use parking_lot::Mutex;

/// The standing pause filters of one engine.
#[derive(Debug, Default)]
pub struct Pauses {
    filters: Mutex<Vec<String>>,
}

impl Pauses {
    /// Adds a standing filter (`*` for every pool).
    pub fn add(&self, filter: &str) {
        let mut f = self.filters.lock();
        if !f.iter().any(|x| x == filter) {
            f.push(filter.to_string());
        }
    }

    /// Removes a filter; `*` removes every filter.
    pub fn remove(&self, filter: &str) {
        let mut f = self.filters.lock();
        if filter == "*" {
            f.clear();
        } else {
            f.retain(|x| x != filter);
        }
    }

    /// True when a filter matches a pool known by `names`.
    pub fn matches(&self, names: &[&str]) -> bool {
        self.filters.lock().iter().any(|f| f == "*" || names.contains(&f.as_str()))
    }

    /// The standing filters.
    pub fn list(&self) -> Vec<String> {
        self.filters.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::Pauses;

    #[test]
    fn filters_match_by_any_name_and_star_matches_all() {
        let p = Pauses::default();
        assert!(!p.matches(&["postgres", "primary"]));
        p.add("primary");
        assert!(p.matches(&["postgres", "primary"]) && !p.matches(&["postgres", "replica1"]));
        p.add("*");
        assert!(p.matches(&["mysql", "replica1"]));
        p.remove("*");
        assert!(p.list().is_empty());
    }
}
