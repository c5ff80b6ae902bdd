//! The command line: `cargo xtask <command> [-- cargo test arguments]`.

use crate::services::{self, UrlVar, SERVICES};

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// `test [-- ARGS]`: find or install the servers, then `cargo test` with ARGS appended.
    Test { cargo_args: Vec<String> },
    /// `help`, `-h`, `--help`: print the usage, succeed.
    Help,
    /// No command, an unknown one, or a stray argument: print why and the usage, fail.
    Usage { error: String },
}

/// The usage text, printed by `help` and after every usage error; the services' lines come
/// from [`SERVICES`].
pub fn usage() -> String {
    let features = services::FEATURES;
    let binaries: Vec<&str> = SERVICES.iter().map(|s| s.binary).collect();
    let mut text = format!(
        "\
usage: cargo xtask <command>

commands:
  test [-- ARGS]   find the servers the tests need on PATH ({binaries}), install the missing
                   ones with apt-get when root (or with sudo), print the toolchain and what was
                   found or installed, then run `cargo test --release --features {features} ARGS`
                   and exit with its status. ARGS go to `cargo test`, for example
                   `cargo xtask test -- --test redis -- --nocapture`.
  help             this text

environment:
",
        binaries = binaries.join(", "),
    );
    let mut var = |label: String, first: String, second: String| {
        text.push_str(&format!("  {label:<22} {first}\n  {:<22} {second}\n", ""));
    };
    for service in SERVICES {
        var(
            format!("{}=1", service.skip_var),
            format!(
                "install nothing for {}; its tests then skip, loudly,",
                service.name
            ),
            format!("when {} is missing", service.binary),
        );
        match service.url_var {
            UrlVar::UsedByTests(name) => var(
                name.to_string(),
                format!("an existing {} server for the tests:", service.name),
                "nothing is located or installed".to_string(),
            ),
            UrlVar::ExamplesOnly(name) => var(
                name.to_string(),
                "read by the examples, not the tests: they start, kill".to_string(),
                format!("and restart their own {}", service.binary),
            ),
        }
    }
    text.push_str(
        "\nPlain `cargo test` builds only the default features (the lock-free core) and skips every\n\
         test that needs another; `cargo test --features full` with each MQSYNC_SKIP_*=1 above\n\
         runs the rest without a server.",
    );
    text
}

/// Parses the arguments after the program name.
pub fn parse<I>(args: I) -> Command
where
    I: IntoIterator<Item = String>,
{
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Command::Usage {
            error: "no command given".to_string(),
        };
    };
    match command.as_str() {
        "help" | "-h" | "--help" => Command::Help,
        "test" => {
            let rest: Vec<String> = args.collect();
            match rest.first().map(String::as_str) {
                None => Command::Test {
                    cargo_args: Vec::new(),
                },
                Some("-h" | "--help") => Command::Help,
                // Only the first `--` is ours: a second one belongs to `cargo test` (harness
                // arguments such as `--nocapture`).
                Some("--") => Command::Test {
                    cargo_args: rest[1..].to_vec(),
                },
                Some(other) => Command::Usage {
                    error: format!(
                        "unexpected argument `{other}` after `test`: put cargo test arguments \
                         after `--` (cargo xtask test -- {other})"
                    ),
                },
            }
        }
        other => Command::Usage {
            error: format!("unknown command `{other}`"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Command {
        parse(args.iter().map(|s| s.to_string()))
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn test_alone_passes_nothing_to_cargo() {
        assert_eq!(
            parse_strs(&["test"]),
            Command::Test {
                cargo_args: Vec::new()
            }
        );
    }

    #[test]
    fn arguments_after_the_first_double_dash_go_to_cargo_test_unchanged() {
        assert_eq!(
            parse_strs(&["test", "--", "--test", "redis", "--", "--nocapture"]),
            Command::Test {
                cargo_args: strings(&["--test", "redis", "--", "--nocapture"])
            }
        );
        assert_eq!(
            parse_strs(&["test", "--"]),
            Command::Test {
                cargo_args: Vec::new()
            }
        );
    }

    #[test]
    fn help_in_every_spelling() {
        for args in [
            &["help"][..],
            &["-h"],
            &["--help"],
            &["test", "--help"],
            &["test", "-h"],
        ] {
            assert_eq!(parse_strs(args), Command::Help, "{args:?}");
        }
    }

    #[test]
    fn a_missing_or_unknown_command_is_a_usage_error_naming_it() {
        assert_eq!(
            parse_strs(&[]),
            Command::Usage {
                error: "no command given".to_string()
            }
        );
        match parse_strs(&["tset"]) {
            Command::Usage { error } => assert_eq!(error, "unknown command `tset`"),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn a_stray_argument_after_test_asks_for_the_double_dash() {
        match parse_strs(&["test", "--release"]) {
            Command::Usage { error } => {
                assert!(error.contains("`--release`"), "{error}");
                assert!(error.contains("cargo xtask test -- --release"), "{error}");
            }
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn the_usage_names_every_command_and_variable() {
        let usage = usage();
        for word in [
            "test [-- ARGS]",
            "help",
            "(redis-server, initdb, rabbitmq-server)",
            "MQSYNC_SKIP_REDIS=1",
            "MQSYNC_SKIP_POSTGRES=1",
            "MQSYNC_SKIP_RABBITMQ=1",
            "REDIS_URL              read by the examples, not the tests",
            "--features full ARGS",
        ] {
            assert!(usage.contains(word), "usage lacks {word}:\n{usage}");
        }
    }
}
