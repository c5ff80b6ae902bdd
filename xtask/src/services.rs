//! The servers the tests need, and what to do about each: use it, install it, skip it, or tell
//! the user how to get it. Everything here decides; `main.rs` runs the commands.
//!
//! A new connector's server is one more [`Service`] in [`SERVICES`] (with its cargo feature, which
//! mqsync's `full` must include): `cargo xtask test` then locates or installs it, and its tests run
//! under [`FEATURES`].

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// One server the test suite starts or connects to.
#[derive(Debug)]
pub struct Service {
    /// For people: "Redis".
    pub name: &'static str,
    /// The cargo feature whose tests need this server, one of those [`FEATURES`] turns on.
    pub feature: &'static str,
    /// The executable the tests start, looked up on `PATH`, then in [`also_in`](Self::also_in).
    pub binary: &'static str,
    /// Directories off `PATH` where the package puts [`binary`](Self::binary), searched after
    /// `PATH`; one `*` component matches any name, the greatest first (Debian's
    /// `/usr/lib/postgresql/*/bin`: the newest major version).
    pub also_in: &'static [&'static str],
    /// Arguments that make [`binary`](Self::binary) print its version and exit; empty when it has
    /// none (`rabbitmq-server` would boot a node whatever it is given): no version is shown.
    pub version_args: &'static [&'static str],
    /// The Debian/Ubuntu package that provides [`binary`](Self::binary) on `PATH`.
    pub package: &'static str,
    /// The systemd unit the package starts on install. The tests start servers of their own, so
    /// it is stopped and disabled right after the install (best effort: no systemd, no error).
    pub system_unit: Option<&'static str>,
    /// Set to `1`, nothing is installed for this service and its tests skip, loudly, when the
    /// binary is missing (the tests read it too).
    pub skip_var: &'static str,
    /// The variable naming an existing server, and who reads it.
    pub url_var: UrlVar,
}

/// Who reads a service's URL variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlVar {
    /// The tests use the server it names instead of starting their own: when it is set,
    /// nothing is located or installed.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "for the next service whose tests take a URL; tested with a made-up one"
        )
    )]
    UsedByTests(&'static str),
    /// Only the examples read it. The tests start their own servers (they kill and restart
    /// them), so they need the binary whatever it says.
    ExamplesOnly(&'static str),
}

/// Every server the tests need, in the order they are provisioned.
pub const SERVICES: &[Service] = &[
    Service {
        name: "Redis",
        feature: "redis",
        binary: "redis-server",
        also_in: &[],
        version_args: &["--version"],
        package: "redis-server",
        system_unit: Some("redis-server"),
        skip_var: "MQSYNC_SKIP_REDIS",
        // tests/redis.rs starts a throwaway server per test (sync::redis_testing::RedisServer),
        // kills and restarts some of them, and reuses stream names across tests: a shared server
        // named by REDIS_URL would serve none of that. The redis_scale_out example reads it.
        url_var: UrlVar::ExamplesOnly("REDIS_URL"),
    },
    Service {
        name: "PostgreSQL",
        feature: "postgres",
        // tests/postgres.rs runs `initdb` and `postgres` (sync::postgres_testing::PostgresServer);
        // Debian installs them off PATH, in /usr/lib/postgresql/<major>/bin.
        binary: "initdb",
        also_in: &["/usr/lib/postgresql/*/bin"],
        version_args: &["--version"],
        package: "postgresql-15",
        system_unit: Some("postgresql"),
        skip_var: "MQSYNC_SKIP_POSTGRES",
        // The tests start a private cluster per test (and kill and restart some): a shared
        // server named by DATABASE_URL would serve none of that. Examples may read it.
        url_var: UrlVar::ExamplesOnly("DATABASE_URL"),
    },
    Service {
        name: "RabbitMQ",
        feature: "rabbitmq",
        // Debian installs it in /usr/sbin, which is not on every user's PATH.
        binary: "rabbitmq-server",
        also_in: &["/usr/sbin", "/usr/local/sbin"],
        version_args: &[],
        package: "rabbitmq-server",
        system_unit: Some("rabbitmq-server"),
        skip_var: "MQSYNC_SKIP_RABBITMQ",
        // tests/rabbitmq.rs starts its own nodes (sync::rabbitmq_testing::RabbitMqServer), kills
        // and restarts one, and needs a user with a password it knows: a shared broker would serve
        // none of that. The rabbitmq_pipeline example reads AMQP_URL.
        url_var: UrlVar::ExamplesOnly("AMQP_URL"),
    },
];

/// The features `cargo xtask test` runs the suite with: mqsync's `full`, every feature (each
/// service's among them), so every test, example, bench and doc test builds, and the tests of
/// every service run. No feature replaces a code path, so `full` covers them all.
pub const FEATURES: &str = "full";

/// What this machine offers for installing packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// We run as uid 0.
    pub root: bool,
    /// `sudo` is on `PATH`.
    pub sudo: bool,
    /// `apt-get` is on `PATH`.
    pub apt: bool,
}

/// What to do for one service.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// The tests use the existing server named by this variable (its value).
    UseUrl { var: &'static str, url: String },
    /// The binary is on `PATH` here.
    Found(PathBuf),
    /// Missing, and its skip variable is `1`: install nothing, the tests skip loudly.
    Skip,
    /// Missing; install the package with apt-get, through sudo when not root.
    Install { sudo: bool },
    /// Missing, and it cannot be installed here: print [`advice`] and run the tests anyway
    /// (they fail with their own message).
    Advise,
}

/// Decides what to do for `service`, given where its binary was found (if anywhere), the
/// environment (`env("NAME")` is the variable's value) and the host.
pub fn plan(
    service: &Service,
    found: Option<PathBuf>,
    env: impl Fn(&str) -> Option<String>,
    host: Host,
) -> Plan {
    if let UrlVar::UsedByTests(var) = service.url_var {
        if let Some(url) = env(var).filter(|url| !url.is_empty()) {
            return Plan::UseUrl { var, url };
        }
    }
    if let Some(path) = found {
        return Plan::Found(path);
    }
    if env(service.skip_var).as_deref() == Some("1") {
        return Plan::Skip;
    }
    if host.apt && (host.root || host.sudo) {
        return Plan::Install { sudo: !host.root };
    }
    Plan::Advise
}

/// The commands that install `service`, in order; all must succeed. With `sudo`, each runs as
/// `sudo env DEBIAN_FRONTEND=noninteractive ...` (sudo's env_reset would drop the variable);
/// as root the caller sets it in the environment.
pub fn install_commands(service: &Service, sudo: bool) -> Vec<Vec<String>> {
    let apt = |args: &[&str]| -> Vec<String> {
        let prefix: &[&str] = if sudo {
            &["sudo", "env", "DEBIAN_FRONTEND=noninteractive"]
        } else {
            &[]
        };
        prefix.iter().chain(args).map(|s| s.to_string()).collect()
    };
    vec![
        apt(&["apt-get", "update", "-qq"]),
        apt(&["apt-get", "install", "-y", "-qq", service.package]),
    ]
}

/// The command that stops and disables the service the package started, if it starts one.
/// Best effort: its failure (no systemd, as in most containers) is not an error.
pub fn disable_command(service: &Service, sudo: bool) -> Option<Vec<String>> {
    let unit = service.system_unit?;
    let mut argv: Vec<String> = Vec::new();
    if sudo {
        argv.push("sudo".to_string());
    }
    argv.extend(["systemctl", "disable", "--now", unit].map(String::from));
    Some(argv)
}

/// What the user can do when `service` is missing and was not installed: printed as is.
pub fn advice(service: &Service) -> String {
    let mut text = format!(
        "{name}: without {binary} on PATH the {name} tests fail (with their own message). \
         To get it:\n  \
         - install it as root: apt-get install -y {package} (or `sudo apt-get ...`; another \
         system's package manager works too: the tests only need {binary} on PATH);\n  \
         - without root: put any {binary} executable in a directory on PATH (the tests run it \
         as you, on a loopback port);\n",
        name = service.name,
        binary = service.binary,
        package = service.package,
    );
    match service.url_var {
        UrlVar::UsedByTests(var) => text.push_str(&format!(
            "  - or point the tests at an existing server: {var}=...;\n"
        )),
        UrlVar::ExamplesOnly(var) => text.push_str(&format!(
            "  ({var} points the examples at an existing server, not the tests: they start, kill \
             and restart their own);\n"
        )),
    }
    text.push_str(&format!(
        "  - or skip the {} tests, loudly: {}=1 cargo xtask test",
        service.name, service.skip_var
    ));
    text
}

/// The first `binary` in the directories of `path` (a `PATH` value) that is an executable file,
/// else in the directories of `also_in` (see [`Service::also_in`]).
pub fn locate(binary: &str, path: &OsStr, also_in: &[&str]) -> Option<PathBuf> {
    std::env::split_paths(path)
        .chain(also_in.iter().flat_map(|pattern| expand(pattern)))
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable(candidate))
}

/// The directories `pattern` names: itself, or, with one `*` component, every entry of the
/// directory before it joined with what follows, the greatest name first (by number when both
/// are numbers, so `15` comes before `9`).
fn expand(pattern: &str) -> Vec<PathBuf> {
    let Some((before, after)) = pattern.split_once("/*") else {
        return vec![PathBuf::from(pattern)];
    };
    let Ok(entries) = std::fs::read_dir(before) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort_by_key(|name| (name.parse::<u64>().ok(), name.clone()));
    names
        .iter()
        .rev()
        .map(|name| PathBuf::from(format!("{before}/{name}{after}")))
        .collect()
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::fs;

    const ROOT: Host = Host {
        root: true,
        sudo: false,
        apt: true,
    };

    fn redis() -> &'static Service {
        SERVICES.iter().find(|s| s.name == "Redis").unwrap()
    }

    /// A service whose tests read their URL variable, as a PostgreSQL one might.
    const WITH_URL: Service = Service {
        name: "PostgreSQL",
        feature: "postgres",
        binary: "postgres",
        also_in: &[],
        version_args: &["--version"],
        package: "postgresql",
        system_unit: None,
        skip_var: "MQSYNC_SKIP_POSTGRES",
        url_var: UrlVar::UsedByTests("DATABASE_URL"),
    };

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn the_table_is_consistent() {
        assert!(!SERVICES.is_empty());
        for s in SERVICES {
            assert!(s.skip_var.starts_with("MQSYNC_SKIP_"), "{}", s.skip_var);
            assert!(!s.binary.is_empty() && !s.package.is_empty() && !s.feature.is_empty());
        }
        let r = redis();
        assert_eq!(
            (r.binary, r.package, r.feature),
            ("redis-server", "redis-server", "redis")
        );
        assert_eq!(r.skip_var, "MQSYNC_SKIP_REDIS"); // what tests/redis.rs reads
        assert_eq!(r.url_var, UrlVar::ExamplesOnly("REDIS_URL"));
        let p = SERVICES.iter().find(|s| s.name == "PostgreSQL").unwrap();
        assert_eq!((p.binary, p.feature), ("initdb", "postgres"));
        assert_eq!(p.skip_var, "MQSYNC_SKIP_POSTGRES"); // what tests/postgres.rs reads
        assert_eq!(p.also_in, ["/usr/lib/postgresql/*/bin"]); // Debian's, off PATH
        assert_eq!(FEATURES, "full");
    }

    #[test]
    fn rabbitmq_is_found_in_sbin_and_never_asked_for_a_version() {
        let r = SERVICES.iter().find(|s| s.name == "RabbitMQ").unwrap();
        assert_eq!(
            (r.binary, r.package, r.feature, r.skip_var),
            (
                "rabbitmq-server",
                "rabbitmq-server",
                "rabbitmq",
                "MQSYNC_SKIP_RABBITMQ" // what tests/rabbitmq.rs reads
            )
        );
        assert!(
            r.version_args.is_empty(),
            "rabbitmq-server has no --version: it would boot"
        );
        assert!(
            r.also_in.contains(&"/usr/sbin"),
            "Debian's, often off a user's PATH"
        );
        assert_eq!(r.url_var, UrlVar::ExamplesOnly("AMQP_URL"));
    }

    #[test]
    fn every_service_feature_is_in_full() {
        // mqsync's Cargo.toml, read at test time: `full` must turn on each service's feature,
        // or `cargo xtask test` would provision a server whose tests it does not build.
        let manifest =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
                .expect("mqsync's Cargo.toml");
        let full = manifest
            .split("\nfull = [")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .expect("a `full = [...]` feature");
        for s in SERVICES {
            assert!(
                full.contains(&format!("\"{}\"", s.feature)),
                "`full` lacks {}: {full}",
                s.feature
            );
        }
    }

    #[test]
    fn a_binary_on_path_is_used_whatever_else_holds() {
        let path = PathBuf::from("/usr/bin/redis-server");
        for host in [
            ROOT,
            Host {
                root: false,
                sudo: false,
                apt: false,
            },
        ] {
            assert_eq!(
                plan(redis(), Some(path.clone()), env_of(&[]), host),
                Plan::Found(path.clone())
            );
        }
        // The skip variable skips the install, not a server that is there.
        assert_eq!(
            plan(
                redis(),
                Some(path.clone()),
                env_of(&[("MQSYNC_SKIP_REDIS", "1")]),
                ROOT
            ),
            Plan::Found(path)
        );
    }

    #[test]
    fn a_missing_binary_is_installed_as_root_or_through_sudo() {
        assert_eq!(
            plan(redis(), None, env_of(&[]), ROOT),
            Plan::Install { sudo: false }
        );
        let sudoer = Host {
            root: false,
            sudo: true,
            apt: true,
        };
        assert_eq!(
            plan(redis(), None, env_of(&[]), sudoer),
            Plan::Install { sudo: true }
        );
    }

    #[test]
    fn without_apt_or_privileges_the_user_is_advised() {
        for host in [
            Host {
                root: false,
                sudo: false,
                apt: true,
            },
            Host {
                root: true,
                sudo: true,
                apt: false,
            },
        ] {
            assert_eq!(plan(redis(), None, env_of(&[]), host), Plan::Advise);
        }
    }

    #[test]
    fn the_skip_variable_skips_the_install_only_when_it_is_1() {
        assert_eq!(
            plan(redis(), None, env_of(&[("MQSYNC_SKIP_REDIS", "1")]), ROOT),
            Plan::Skip
        );
        assert_eq!(
            plan(redis(), None, env_of(&[("MQSYNC_SKIP_REDIS", "0")]), ROOT),
            Plan::Install { sudo: false }
        );
    }

    #[test]
    fn redis_url_does_not_stand_in_for_the_binary() {
        let env = env_of(&[("REDIS_URL", "redis://10.0.0.1:6379/")]);
        assert_eq!(
            plan(redis(), None, env, ROOT),
            Plan::Install { sudo: false }
        );
    }

    #[test]
    fn a_url_the_tests_read_replaces_locating_and_installing() {
        let env = env_of(&[("DATABASE_URL", "postgres://db/test")]);
        assert_eq!(
            plan(&WITH_URL, None, env, ROOT),
            Plan::UseUrl {
                var: "DATABASE_URL",
                url: "postgres://db/test".to_string()
            }
        );
        // Set but empty counts as unset.
        let env = env_of(&[("DATABASE_URL", "")]);
        assert_eq!(
            plan(&WITH_URL, None, env, ROOT),
            Plan::Install { sudo: false }
        );
    }

    #[test]
    fn install_commands_update_then_install_the_package() {
        let as_root = install_commands(redis(), false);
        assert_eq!(
            as_root,
            vec![
                vec!["apt-get", "update", "-qq"],
                vec!["apt-get", "install", "-y", "-qq", "redis-server"],
            ]
        );
        let with_sudo = install_commands(redis(), true);
        assert_eq!(
            with_sudo[1],
            vec![
                "sudo",
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-qq",
                "redis-server"
            ]
        );
        assert_eq!(
            disable_command(redis(), false).unwrap(),
            vec!["systemctl", "disable", "--now", "redis-server"]
        );
        assert_eq!(disable_command(redis(), true).unwrap()[0], "sudo");
        assert_eq!(disable_command(&WITH_URL, false), None);
    }

    #[test]
    fn advice_names_the_install_command_the_skip_variable_and_the_url_truthfully() {
        let text = advice(redis());
        for part in [
            "apt-get install -y redis-server",
            "MQSYNC_SKIP_REDIS=1 cargo xtask test",
            "redis-server executable in a directory on PATH",
            "REDIS_URL points the examples at an existing server, not the tests",
        ] {
            assert!(text.contains(part), "advice lacks {part:?}:\n{text}");
        }
        let text = advice(&WITH_URL);
        assert!(
            text.contains("point the tests at an existing server: DATABASE_URL=..."),
            "{text}"
        );
    }

    #[test]
    fn locate_finds_the_first_executable_on_path_and_skips_the_rest() {
        let base = std::env::temp_dir().join(format!("xtask-locate-{}", std::process::id()));
        let (plain, exec) = (base.join("plain"), base.join("exec"));
        fs::create_dir_all(&plain).unwrap();
        fs::create_dir_all(&exec).unwrap();
        fs::create_dir_all(base.join("dir").join("redis-server")).unwrap(); // a directory
        fs::write(plain.join("redis-server"), "").unwrap(); // not executable
        fs::write(exec.join("redis-server"), "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(exec.join("redis-server"), fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let path = std::env::join_paths([
            base.join("missing"),
            base.join("dir"),
            plain.clone(),
            exec.clone(),
        ])
        .unwrap();
        let found = locate("redis-server", &path, &[]);
        let none = locate(
            "redis-server",
            &std::env::join_paths([plain.clone()]).unwrap(),
            &[],
        );
        // Off PATH: `*` matches any name, the greatest version first (15 before 9).
        for version in ["9", "15"] {
            let bin = base.join("lib").join(version).join("bin");
            fs::create_dir_all(&bin).unwrap();
            fs::write(bin.join("initdb"), "#!/bin/sh\n").unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(bin.join("initdb"), fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        let pattern = format!("{}/lib/*/bin", base.display());
        let off_path = locate(
            "initdb",
            &std::env::join_paths([plain]).unwrap(),
            &[&pattern],
        );
        let nowhere = locate("initdb", OsStr::new(""), &["/nonexistent/*/bin"]);
        let _ = fs::remove_dir_all(&base);
        #[cfg(unix)]
        {
            assert_eq!(found, Some(exec.join("redis-server")));
            assert_eq!(none, None);
            assert_eq!(off_path, Some(base.join("lib/15/bin/initdb")));
        }
        assert_eq!(nowhere, None);
        assert_eq!(locate("redis-server", OsStr::new(""), &[]), None);
    }
}
