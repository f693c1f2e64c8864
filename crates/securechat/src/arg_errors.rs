//! Command-line parse errors that name where the bad value came from. clap reads an option
//! from its `--flag` or from its `SECURECHAT_…` environment variable, but its error names only
//! the flag: `SECURECHAT_ACCESS_TTL_SECS=abc` would be reported as "invalid value 'abc' for
//! '--access-ttl-secs <SECS>'", which sends an operator looking for a flag nobody typed (in a
//! systemd `EnvironmentFile`, say).

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Command};

/// For a bad value that came from an environment variable rather than the command line, the
/// error message naming the variable; `None` for any other error (clap's own message
/// stands). `args` is the command line the error came from.
pub fn from_environment(
    error: &clap::Error,
    command: &Command,
    args: &[OsString],
) -> Option<String> {
    if !matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let Some(ContextValue::String(value)) = error.get(ContextKind::InvalidValue) else {
        return None;
    };
    // "--access-ttl-secs <SECS>" → "access-ttl-secs"
    let long = shown.strip_prefix("--")?.split([' ', '=']).next()?;
    let arg = find_arg(command, long)?;
    let variable = arg.get_env()?;
    let from_env = std::env::var_os(variable)?;
    let flag = format!("--{long}");
    let on_command_line = args.iter().any(|a| {
        a.to_str()
            .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
    });
    // The value in error must be (one item of) the variable's value.
    if on_command_line || !from_env.to_string_lossy().contains(value.as_str()) {
        return None;
    }
    let variable = variable.to_string_lossy();
    let rendered = error.render().to_string();
    let quoted = format!("'{shown}'");
    let message = if rendered.contains(&quoted) {
        rendered.replacen(
            &quoted,
            &format!("the environment variable {variable} ({flag})"),
            1,
        )
    } else {
        format!("{rendered}\n(the value came from the environment variable {variable})")
    };
    Some(message)
}

/// The argument with this long name, in the command or any of its subcommands.
fn find_arg<'a>(command: &'a Command, long: &str) -> Option<&'a Arg> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(long) && a.get_env().is_some())
        .or_else(|| {
            command
                .get_subcommands()
                .find_map(|sub| find_arg(sub, long))
        })
}
