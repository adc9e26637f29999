//! Where and as whom maintenance connects: the primary of each engine, with the `[maintenance]` login or, by
//! default, the engine's health-probe login.
//!
//! Deliberately not here: connecting (each engine's module builds its own options from a [`Login`]).

use std::fmt;

use super::Engine;
use crate::config::{Cluster, Config};

/// A backend login on one engine's primary.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The primary's name in the configuration.
    pub server: String,
    /// The primary's `host:port`.
    pub addr: String,
    /// Backend user name.
    pub user: String,
    /// Backend password, if the server asks for one.
    pub password: Option<String>,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("server", &self.server)
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Login {
    /// `(host, port)` of the address (`[v6]:port` accepted), or `None` when it is not `host:port`.
    pub fn host_port(&self) -> Option<(String, u16)> {
        crate::net::split_host_port(&self.addr)
    }
}

/// The cluster of `engine`.
pub fn cluster(config: &Config, engine: Engine) -> &Cluster {
    match engine {
        Engine::Postgres => &config.postgres,
        Engine::Mysql => &config.mysql,
    }
}

/// The maintenance login for `engine`'s primary, or `None` when the engine has no primary configured.
///
/// The user is `maintenance.user`, else the cluster's `health_user`, else `health.user`, else the first
/// configured user, else `postgres` / `root`. When that name is a configured user, its backend user name and
/// backend password (or password) are used. `maintenance.password` wins over any password found that way; for
/// the probe login `health.password` does.
pub fn login(config: &Config, engine: Engine) -> Option<Login> {
    let cluster = cluster(config, engine);
    let primary = cluster.primary.as_ref()?;
    let m = &config.maintenance;
    let fallback = match engine {
        Engine::Postgres => "postgres",
        Engine::Mysql => "root",
    };
    let (user, password) = match &m.user {
        Some(name) => config.backend_login(name),
        None => config.probe_login(cluster, fallback),
    };
    let password = m.password.clone().or(password);
    Some(Login { server: primary.name.clone(), addr: primary.addr.clone(), user, password })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_maintenance_user_then_the_probe_user() {
        let text = "[[users]]\nname = \"postgres\"\nauth = \"trust\"\n[[users]]\nname = \"app\"\npassword = \"pw\"\n\
                    backend_user = \"app_be\"\n[postgres]\nprimary = { name = \"p\", addr = \"127.0.0.1:5432\" }\n\
                    [mysql]\nprimary = { name = \"m\", addr = \"[::1]:3306\" }\nhealth_user = \"app\"\n";
        let c = Config::parse(text, &Default::default()).expect("valid");
        let pg = login(&c, Engine::Postgres).expect("configured");
        assert_eq!((pg.user.as_str(), pg.password.as_deref()), ("postgres", None));
        assert_eq!(pg.host_port(), Some(("127.0.0.1".to_string(), 5432)));
        let my = login(&c, Engine::Mysql).expect("configured");
        assert_eq!((my.user.as_str(), my.password.as_deref()), ("app_be", Some("pw")));
        assert_eq!(my.host_port(), Some(("::1".to_string(), 3306)));

        let text = format!("{text}[maintenance]\nuser = \"maint\"\npassword = \"m-pw\"\n");
        let c = Config::parse(&text, &Default::default()).expect("valid");
        let pg = login(&c, Engine::Postgres).expect("configured");
        assert_eq!((pg.user.as_str(), pg.password.as_deref()), ("maint", Some("m-pw")));
        assert!(!format!("{pg:?}").contains("m-pw"), "password redacted");
        assert_eq!(login(&Config::default(), Engine::Postgres), None, "no primary");
    }
}
