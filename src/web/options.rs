//! A job's options from the page: the command line's own names, defaults, help and
//! checks. The page's values become command-line arguments parsed by the same `clap`
//! definitions, and the same library validation runs, so a bad value gets the message
//! the command prints. Options that would read or write files are not offered, nor
//! `style-blend`: the page takes one painting.

use super::http::HttpError;
use crate::cli::args::{Cli, TransferArgs};
use crate::cli::error_line;
use clap::{CommandFactory, Parser};
use nstyle::run::{InitSpec, JobSpec};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Shown first on the page.
pub const MAIN: &[&str] = &[
    "style-loss",
    "style-weight",
    "size",
    "iterations",
    "init",
    "seed",
];

/// Under "more options".
pub const MORE: &[&str] = &[
    "content-weight",
    "tv-weight",
    "tol",
    "min-progress",
    "style-size",
    "style-scale",
    "preserve-colors",
    "multiscale",
    "start-size",
    "stage-iterations",
    "optimizer",
    "lr",
    "history",
    "style-layers",
    "content-layer",
    "beta-prime",
    "pooling",
    "conv",
    "poly-c",
    "swd-projections",
    "gaussian-sigma2-scale",
    "max-memory",
    "tile",
];

/// Every offered option as the page builds its form: name, help, default, choices.
pub fn schema() -> Value {
    let cmd = Cli::command();
    let describe = |name: &str| -> Option<Value> {
        let a = cmd.get_arguments().find(|a| a.get_long() == Some(name))?;
        let default: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let choices: Vec<String> = a
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .collect();
        let mut choices = choices;
        let mut help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
        if name == "init" {
            // The server reads no files.
            choices = vec!["noise".into(), "content".into()];
            help = "Start from: noise (seeded white noise) or the content image".into();
        }
        Some(json!({
            "name": name,
            "help": help,
            "default": default.first(),
            "value_name": a.get_value_names().and_then(|v| v.first()).map(|v| v.to_string()),
            "choices": choices,
        }))
    };
    json!({
        "main": MAIN.iter().filter_map(|n| describe(n)).collect::<Vec<_>>(),
        "more": MORE.iter().filter_map(|n| describe(n)).collect::<Vec<_>>(),
        "style_losses": nstyle::Method::ALL.iter().map(|m| m.name()).collect::<Vec<_>>(),
    })
}

/// The options a job was given, as strings by name (only those set), checked against the
/// offered names; `init` takes only `noise` or `content` (the server reads no files).
pub fn normalise(options: &Map<String, Value>) -> Result<BTreeMap<String, String>, HttpError> {
    let mut out = BTreeMap::new();
    for (k, v) in options {
        if !MAIN.contains(&k.as_str()) && !MORE.contains(&k.as_str()) {
            return Err(HttpError::new(400, format!("unknown option '{k}'")));
        }
        let s = match v {
            Value::Null => continue,
            Value::String(s) if s.trim().is_empty() => continue,
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(HttpError::new(
                    400,
                    format!("--{k} takes a number or a word, not {v}"),
                ))
            }
        };
        if k == "init" && s != "noise" && s != "content" {
            return Err(HttpError::new(
                400,
                "--init must be noise or content here (the server reads no files)",
            ));
        }
        out.insert(k.clone(), s);
    }
    Ok(out)
}

/// The command line these options amount to (placeholders for the images and output).
pub fn argv(options: &BTreeMap<String, String>, style_only: bool) -> Vec<String> {
    let mut v: Vec<String> = vec!["nstyle".into()];
    if style_only {
        v.extend(["--style-only".into(), "style".into()]);
    } else {
        v.extend(["content".into(), "style".into()]);
    }
    v.extend(["-o".into(), "out.png".into(), "--quiet".into()]);
    // `--name=value`, so that a value starting with '-' stays a value.
    v.extend(options.iter().map(|(k, val)| format!("--{k}={val}")));
    v
}

/// Parses `argv` as the command does; the message is the command's first line.
pub fn parse(argv: &[String]) -> Result<TransferArgs, HttpError> {
    let cli = Cli::try_parse_from(argv).map_err(|e| {
        let text = e.to_string();
        let line = text.lines().next().unwrap_or("invalid option");
        HttpError::new(400, line.trim_start_matches("error: ").to_string())
    })?;
    Ok(cli.transfer)
}

/// The job for these settings and images, with the command's checks and messages.
pub fn job_spec(
    args: &TransferArgs,
    content: Option<image::Rgb32FImage>,
    style: image::Rgb32FImage,
) -> Result<JobSpec, HttpError> {
    let bad = |e: anyhow::Error| {
        let status = match e.downcast_ref::<nstyle::Error>() {
            Some(nstyle::Error::TooLarge(_)) => 413,
            _ => 400,
        };
        HttpError::new(status, error_line(&e))
    };
    let options = args.job.options();
    // Uploads only: an initial image from a path is not offered on the page.
    let init = match options.init.as_str() {
        "content" => InitSpec::Content,
        _ => InitSpec::Noise,
    };
    let spec = options
        .job_spec(content, vec![style], init)
        .map_err(|e| bad(e.into()))?;
    Ok(JobSpec {
        snapshot_every: args.save_every,
        ..spec
    })
}

/// `nstyle::Error` from planning, as the page reads it.
pub fn plan_error(e: nstyle::Error) -> HttpError {
    let status = if matches!(e, nstyle::Error::TooLarge(_)) {
        413
    } else {
        400
    };
    HttpError::new(status, error_line(&anyhow::Error::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: Value) -> BTreeMap<String, String> {
        normalise(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn options_parse_like_the_command_line() {
        let o = opts(json!({"size": 64, "style-weight": "2", "style-loss": "bn"}));
        let a = parse(&argv(&o, false)).unwrap();
        assert_eq!(
            (a.job.size, a.job.style_weight, a.job.style_loss.as_str()),
            (64, 2.0, "bn")
        );
        let e = parse(&argv(&opts(json!({"size": "abc"})), false))
            .err()
            .unwrap();
        assert!(
            e.msg.starts_with("invalid value 'abc' for '--size"),
            "{}",
            e.msg
        );
        let a = parse(&argv(&opts(json!({"style-weight": -1})), false)).unwrap();
        let e: anyhow::Error = a.job.options().style_config(true).err().unwrap().into();
        assert!(
            error_line(&e).starts_with("--style-weight"),
            "{}",
            error_line(&e)
        );
    }

    #[test]
    fn files_and_unknown_options_are_refused() {
        let o = json!({"init": "/etc/passwd"});
        assert!(normalise(o.as_object().unwrap()).is_err());
        let o = json!({"weights": "x"});
        assert!(normalise(o.as_object().unwrap()).is_err());
        let o = json!({"log": "x"});
        assert!(normalise(o.as_object().unwrap()).is_err());
    }

    #[test]
    fn the_schema_has_the_command_line_defaults() {
        let s = schema();
        let main = s["main"].as_array().unwrap();
        let size = main.iter().find(|o| o["name"] == "size").unwrap();
        assert_eq!(size["default"], "512");
        let weight = main.iter().find(|o| o["name"] == "style-weight").unwrap();
        let expected = nstyle::run::options::defaults::STYLE_WEIGHT.to_string();
        assert_eq!(weight["default"], expected.as_str());
    }

    /// The `job_options` fuzz corpus (found through the library's `TransferOptions::set`)
    /// replayed through the page's own path: JSON, the offered names, `clap`, the job and
    /// its plan. Every input ends in a plan or a 400/413, never a panic.
    #[test]
    fn the_fuzz_corpus_plans_or_is_refused_through_the_page() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/job_options");
        let picture = |w, h| image::Rgb32FImage::from_pixel(w, h, image::Rgb([0.3, 0.5, 0.7]));
        let (mut planned, mut refused) = (0, 0);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            let Ok(Value::Object(mut o)) = serde_json::from_slice::<Value>(&data) else {
                continue;
            };
            let style_only = o.remove("style-only") == Some(Value::Bool(true));
            let result = normalise(&o)
                .and_then(|o| parse(&argv(&o, style_only)))
                .and_then(|a| job_spec(&a, (!style_only).then(|| picture(40, 30)), picture(30, 40)))
                .and_then(|spec| nstyle::run::Job::new(spec).map_err(plan_error));
            match result {
                Ok(_) => planned += 1,
                Err(e) => {
                    assert!(matches!(e.status, 400 | 413), "{}: {}", e.status, e.msg);
                    refused += 1;
                }
            }
        }
        assert!(
            planned >= 5 && refused >= 5,
            "{planned} planned, {refused} refused"
        );
    }
}
