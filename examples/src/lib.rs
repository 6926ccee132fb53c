//! What the example programs share: their command-line conventions
//! (`-h`/`--help` prints the usage, counts are positive numbers).

/// Whether the command line asks for help (`-h` or `--help`); if so,
/// prints `usage` on stdout.
pub fn help_asked(usage: &str) -> bool {
    let asked = std::env::args().skip(1).any(|a| a == "-h" || a == "--help");
    if asked {
        println!("{usage}");
    }
    asked
}

/// `text` as the number argument `name`, with what went wrong otherwise.
pub fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| format!("{name} {text:?}: {e}"))
}

/// `text` as a COUNT argument: a number of at least 1.
pub fn count(text: &str) -> Result<u64, String> {
    match number("COUNT", text)? {
        0 => Err("COUNT must be at least 1".into()),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_positive_numbers() {
        assert_eq!(count("3"), Ok(3));
        assert_eq!(count("0"), Err("COUNT must be at least 1".into()));
        assert!(
            count("x")
                .unwrap_err()
                .starts_with("COUNT \"x\": invalid digit")
        );
        assert!(
            number::<u16>("--queue", "65536")
                .unwrap_err()
                .contains("too large")
        );
    }
}
