//! The examples' one flag parser: `lexopt` underneath, with the value forms every example
//! accepts (`--messages 200_000`, `--failure-rate 0.05`) and the same `-h`/`--help` handling.

#![allow(dead_code)] // each example includes this module and uses part of it

use lexopt::{Arg, Parser, ValueExt};

/// Reads the flags after the program name. `-h`/`--help` prints `help` and exits with 0; every
/// `--name` flag goes to `on_flag` with the parser, from which it takes its value (see
/// [`whole`], [`fraction`], [`text`]). Anything else is an error that names it.
pub fn parse<I>(
    args: I,
    help: &str,
    mut on_flag: impl FnMut(&str, &mut Parser) -> Result<(), String>,
) -> Result<(), String>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    let mut parser = Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Arg::Short('h') | Arg::Long("help") => {
                println!("{help}");
                std::process::exit(0);
            }
            Arg::Long(name) => {
                let flag = format!("--{name}");
                on_flag(&flag, &mut parser)?;
            }
            other => return Err(format!("{} (try --help)", other.unexpected())),
        }
    }
    Ok(())
}

/// The flag's value as a whole number; `_` separators are allowed (`200_000`).
pub fn whole(parser: &mut Parser, flag: &str) -> Result<usize, String> {
    let text = text(parser, flag)?;
    text.replace('_', "")
        .parse()
        .map_err(|_| format!("{flag}: {text:?} is not a whole number"))
}

/// The flag's value as a number in `0..1`.
pub fn fraction(parser: &mut Parser, flag: &str) -> Result<f64, String> {
    let text = text(parser, flag)?;
    text.parse()
        .ok()
        .filter(|f: &f64| (0.0..1.0).contains(f))
        .ok_or(format!("{flag}: {text:?} is not a number in 0..1"))
}

/// The flag's value as text.
pub fn text(parser: &mut Parser, flag: &str) -> Result<String, String> {
    parser
        .value()
        .map_err(|_| format!("{flag} needs a value"))?
        .string()
        .map_err(|e| format!("{flag}: {e}"))
}
