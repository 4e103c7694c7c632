//! What `nstyle grid` sweeps: the axes (`--rows`, `--cols`), the base transfer arguments,
//! and each cell's own argument list. A cell's arguments are the base ones with the row's
//! and the column's values put in, parsed by the transfer's own parser, so every transfer
//! option can vary and a bad value gets the same message as in `nstyle` itself.
//!
//! An axis is `OPTION=V1,V2,...` (values separated by `;` instead when any contains a
//! comma: `style-layers=relu1_1;relu1_1,relu2_1`). `OPTION` is a transfer option's long
//! name (with or without `--`), `content` or `style` (the images), or a variable `@NAME`
//! whose values replace `{NAME}` in any argument. Several specifications on one axis vary
//! together: item k takes the k-th value of each (their lists must be equally long).

use super::args::TransferArgs;
use anyhow::{anyhow, bail, Result};
use clap::error::ErrorKind;
use clap::{Args, Command, FromArgMatches};

/// The pseudo-options that name the positional images.
pub const CONTENT: &str = "content";
pub const STYLE: &str = "style";

/// One position on an axis: the options it sets, in order, and its label on the sheet.
#[derive(Clone, Debug, Default)]
pub struct Item {
    pub options: Vec<(String, String)>,
    pub label: String,
}

/// The rows or the columns.
#[derive(Clone, Debug)]
pub struct Axis {
    pub title: String,
    pub items: Vec<Item>,
}

impl Axis {
    /// An axis that varies nothing: one item, no label.
    pub fn single() -> Axis {
        Axis {
            title: String::new(),
            items: vec![Item::default()],
        }
    }

    /// The options (and variables) this axis sets.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.items[0].options.iter().map(|(n, _)| n.as_str())
    }
}

/// The transfer's parser on its own, for parsing one cell's arguments.
pub fn transfer_command() -> Command {
    TransferArgs::augment_args(Command::new("nstyle").no_binary_name(true))
}

/// Parses one cell's arguments as `nstyle ARGS` would.
pub fn parse_transfer(cmd: &Command, argv: &[String]) -> Result<TransferArgs> {
    let m = cmd
        .clone()
        .try_get_matches_from(argv)
        .map_err(|e| anyhow!(clap_line(&e)))?;
    TransferArgs::from_arg_matches(&m).map_err(|e| anyhow!(clap_line(&e)))
}

/// A parser error as one line, without clap's "error: " (the caller adds its own).
pub fn clap_line(e: &clap::Error) -> String {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return "--help and --version are not transfer arguments (try nstyle grid --help)".into();
    }
    let text = e.render().to_string();
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    first.trim_start_matches("error: ").trim().to_string()
}

/// `a,b,c`, or with any `;` present, `a,b;c,d`; a single trailing separator is allowed
/// (`bn:0.5,mmd-linear:0.5;` is one value).
pub fn split_list(s: &str) -> Vec<String> {
    let sep = if s.contains(';') { ';' } else { ',' };
    let mut v: Vec<String> = s.split(sep).map(|x| x.trim().to_string()).collect();
    if v.len() > 1 && v.last().is_some_and(String::is_empty) {
        v.pop();
    }
    v
}

/// How the transfer parser takes an option: with a value, or as a flag.
fn takes_value(cmd: &Command, long: &str) -> Option<bool> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .map(|a| a.get_action().takes_values())
}

/// Options a grid sets itself or cannot run with; `None` when `name` may be given.
fn reserved(name: &str) -> Option<&'static str> {
    match name {
        "output" => Some("is the grid's: each cell writes DIR/cells/rI_cJ.png"),
        "resume" => {
            Some("is not needed: rerunning a grid with the same --out skips the cells it finished")
        }
        "log" | "save-every" => Some("is not available in a grid (grid.json records each cell)"),
        _ => None,
    }
}

/// Checks that an axis may vary `name`.
fn check_name(cmd: &Command, flag: &str, name: &str) -> Result<()> {
    if let Some(var) = name.strip_prefix('@') {
        let ok = !var.is_empty()
            && var
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            bail!("{flag}: variable '{name}' must be @ and a name of letters, digits, - or _");
        }
        return Ok(());
    }
    if name == CONTENT || name == STYLE {
        return Ok(());
    }
    if let Some(why) = reserved(name) {
        bail!("{flag}: --{name} {why}");
    }
    match takes_value(cmd, name) {
        None => bail!(
            "{flag}: unknown transfer option '{name}' (an option of nstyle --help, content, style, or @VARIABLE)"
        ),
        Some(false) => bail!(
            "{flag}: --{name} takes no value, so it cannot vary (give it once with the transfer arguments)"
        ),
        Some(true) => Ok(()),
    }
}

/// A value as a label: a path by its file name.
fn short(value: &str) -> &str {
    if value.contains('/') {
        value.rsplit('/').find(|s| !s.is_empty()).unwrap_or(value)
    } else {
        value
    }
}

/// Parses one axis from its specifications (`--rows` given once or more), optional labels
/// (`--row-labels`) and title (`--row-title`).
pub fn parse_axis(
    cmd: &Command,
    flag: &str,
    specs: &[String],
    labels: Option<&str>,
    title: Option<&str>,
) -> Result<Axis> {
    if specs.is_empty() {
        if labels.is_some() {
            bail!("{flag}-labels needs {flag}");
        }
        return Ok(Axis {
            title: title.unwrap_or_default().to_string(),
            ..Axis::single()
        });
    }
    let mut lists: Vec<(String, Vec<String>)> = Vec::new();
    for spec in specs {
        let Some((name, list)) = spec.split_once('=') else {
            bail!("{flag} '{spec}' must be OPTION=V1,V2,... (e.g. style-weight=0.5,1,5)");
        };
        let name = name.trim().trim_start_matches("--").to_string();
        if name.is_empty() {
            bail!("{flag} '{spec}' names no option (OPTION=V1,V2,...)");
        }
        check_name(cmd, flag, &name)?;
        let values = split_list(list);
        if values.len() == 1 && values[0].is_empty() {
            bail!("{flag} {name}= has no values");
        }
        if values.iter().any(String::is_empty) {
            bail!("{flag} {name}: an empty value in '{list}'");
        }
        if lists.iter().any(|(n, _)| *n == name) {
            bail!("{flag} gives {name} twice");
        }
        if let Some((first, v)) = lists.first() {
            if v.len() != values.len() {
                bail!(
                    "{flag}: {name} has {} values but {first} has {} (options on one axis vary together, value by value)",
                    values.len(),
                    v.len()
                );
            }
        }
        lists.push((name, values));
    }
    let n = lists[0].1.len();
    let mut items: Vec<Item> = (0..n)
        .map(|k| {
            let options: Vec<(String, String)> = lists
                .iter()
                .map(|(name, v)| (name.clone(), v[k].clone()))
                .collect();
            let label = options
                .iter()
                .map(|(_, v)| short(v))
                .collect::<Vec<_>>()
                .join(", ");
            Item { options, label }
        })
        .collect();
    if let Some(labels) = labels {
        let labels = split_list(labels);
        if labels.len() != n {
            bail!("{flag}-labels has {} labels for {n} values", labels.len());
        }
        for (item, l) in items.iter_mut().zip(labels) {
            item.label = l;
        }
    }
    let title = match title {
        Some(t) => t.to_string(),
        None => lists
            .iter()
            .map(|(n, _)| n.trim_start_matches('@'))
            .collect::<Vec<_>>()
            .join(", "),
    };
    Ok(Axis { title, items })
}

/// The base transfer arguments, split: the images, and each option as its tokens.
#[derive(Clone, Debug, Default)]
pub struct Base {
    pub positionals: Vec<String>,
    /// (long name, tokens): `("size", ["--size", "256"])`.
    pub options: Vec<(String, Vec<String>)>,
}

impl Base {
    pub fn has(&self, long: &str) -> bool {
        self.options.iter().any(|(n, _)| n == long)
    }

    /// Every token, for finding variables' uses.
    fn tokens(&self) -> impl Iterator<Item = &String> {
        self.positionals
            .iter()
            .chain(self.options.iter().flat_map(|(_, t)| t))
    }
}

/// Splits the base transfer arguments the way the transfer parser reads them. Unknown
/// options are kept as flags; the parser reports them when it reads a cell.
pub fn split_base(cmd: &Command, tokens: &[String]) -> Result<Base> {
    let mut base = Base::default();
    let mut k = 0;
    let mut only_positionals = false;
    while k < tokens.len() {
        let t = &tokens[k];
        k += 1;
        if only_positionals {
            base.positionals.push(t.clone());
            continue;
        }
        if t == "--" {
            only_positionals = true;
            continue;
        }
        let long = if let Some(body) = t.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, _)) => (n.to_string(), true),
                None => (body.to_string(), false),
            };
            Some((name, inline))
        } else if t.len() > 1
            && t.starts_with('-')
            && !t[1..].starts_with(|c: char| c.is_ascii_digit())
        {
            let short = t[1..].chars().next().unwrap_or('-');
            let long = cmd
                .get_arguments()
                .find(|a| a.get_short() == Some(short))
                .and_then(|a| a.get_long())
                .map_or(short.to_string(), str::to_string);
            Some((long, t.len() > 2))
        } else {
            None
        };
        let Some((name, inline)) = long else {
            base.positionals.push(t.clone());
            continue;
        };
        if let Some(why) = reserved(&name) {
            bail!("--{name} {why}");
        }
        let mut group = vec![t.clone()];
        if !inline && takes_value(cmd, &name) == Some(true) && k < tokens.len() {
            group.push(tokens[k].clone());
            k += 1;
        }
        base.options.push((name, group));
    }
    Ok(base)
}

/// Checks the axes together: no option on both, every variable used somewhere.
pub fn check_axes(base: &Base, rows: &Axis, cols: &Axis) -> Result<()> {
    for name in rows.names() {
        if cols.names().any(|c| c == name) {
            bail!("--rows and --cols both vary {name}");
        }
    }
    let values: Vec<&String> = rows
        .items
        .iter()
        .chain(&cols.items)
        .flat_map(|i| i.options.iter().map(|(_, v)| v))
        .chain(base.tokens())
        .collect();
    for name in rows.names().chain(cols.names()) {
        if let Some(var) = name.strip_prefix('@') {
            let pattern = format!("{{{var}}}");
            if !values.iter().any(|v| v.contains(&pattern)) {
                bail!("{name} varies, but no argument uses {pattern}");
            }
        }
    }
    Ok(())
}

/// One cell's transfer arguments (without `-o`): the base with the row's and the
/// column's options put in, variables replaced.
pub fn cell_args(base: &Base, row: &Item, col: &Item) -> Vec<String> {
    let set: Vec<&(String, String)> = row.options.iter().chain(&col.options).collect();
    let get = |name: &str| set.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let style_only = base.has("style-only");
    let (content, style) = (get(CONTENT), get(STYLE));
    let mut positionals = base.positionals.clone();
    if style_only {
        // The one image is the style; a varied content is left for the parser to refuse.
        match (&style, positionals.is_empty()) {
            (Some(s), true) => positionals.push(s.clone()),
            (Some(s), false) => positionals[0] = s.clone(),
            _ => {}
        }
        positionals.extend(content);
    } else {
        match (positionals.len(), content, style) {
            (0, c, s) => positionals.extend(c.into_iter().chain(s)),
            // One image given and one varied: the given one fills the other place.
            (1, Some(c), None) => positionals.insert(0, c),
            (1, None, Some(s)) => positionals.push(s),
            (1, Some(c), Some(s)) => positionals = vec![c, s],
            (_, c, s) => {
                // Two (or, for the parser to refuse, more or fewer) images: replace in place.
                if let (Some(c), Some(p)) = (c, positionals.first_mut()) {
                    *p = c;
                }
                if let (Some(s), Some(p)) = (s, positionals.get_mut(1)) {
                    *p = s;
                }
            }
        }
    }
    let mut options: Vec<String> = base
        .options
        .iter()
        .filter(|(n, _)| get(n).is_none())
        .flat_map(|(_, t)| t.clone())
        .collect();
    for (n, v) in &set {
        if n != CONTENT && n != STYLE && !n.starts_with('@') {
            options.push(format!("--{n}={v}"));
        }
    }
    // Images first, as in `nstyle photo.jpg painting.jpg ...`, unless one looks like an option.
    let argv: Vec<String> = if positionals.iter().any(|p| p.starts_with('-')) {
        options
            .into_iter()
            .chain(["--".to_string()])
            .chain(positionals)
            .collect()
    } else {
        positionals.into_iter().chain(options).collect()
    };
    let vars: Vec<(String, &String)> = set
        .iter()
        .filter_map(|(n, v)| n.strip_prefix('@').map(|var| (format!("{{{var}}}"), v)))
        .collect();
    argv.into_iter()
        .map(|mut t| {
            for (pattern, v) in &vars {
                t = t.replace(pattern.as_str(), v);
            }
            t
        })
        .collect()
}

/// `style-loss=bn, style-weight=5`: what a cell varies, for messages.
pub fn describe(row: &Item, col: &Item) -> String {
    row.options
        .iter()
        .chain(&col.options)
        .map(|(n, v)| format!("{n}={}", short(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_split_on_semicolons_when_values_hold_commas() {
        assert_eq!(split_list("0.1,1,10"), strings(&["0.1", "1", "10"]));
        assert_eq!(
            split_list("relu1_1;relu1_1,relu2_1"),
            strings(&["relu1_1", "relu1_1,relu2_1"])
        );
        assert_eq!(split_list("bn:1,gram:1;"), strings(&["bn:1,gram:1"]));
        assert_eq!(split_list(""), strings(&[""]));
    }

    #[test]
    fn axes_zip_and_refuse_what_cannot_vary() {
        let cmd = transfer_command();
        let a = parse_axis(
            &cmd,
            "--rows",
            &strings(&["content=a/x.jpg,b/y.jpg", "--style-weight=2,5"]),
            None,
            None,
        )
        .unwrap();
        assert_eq!(a.title, "content, style-weight");
        assert_eq!(a.items[1].label, "y.jpg, 5");
        let err = |specs: &[&str]| {
            parse_axis(&cmd, "--rows", &strings(specs), None, None)
                .unwrap_err()
                .to_string()
        };
        assert!(err(&["fancy=1,2"]).contains("unknown transfer option 'fancy'"));
        assert!(err(&["quiet=1,2"]).contains("takes no value"));
        assert!(err(&["style-weight="]).contains("has no values"));
        assert!(err(&["style-weight"]).contains("OPTION=V1,V2"));
        assert!(err(&["output=a.png"]).contains("is the grid's"));
        assert!(err(&["size=1,2", "tol=1"]).contains("vary together"));
        assert!(err(&["@=1"]).contains("variable"));
    }

    #[test]
    fn cells_replace_options_images_and_variables() {
        let cmd = transfer_command();
        let base = split_base(
            &cmd,
            &strings(&[
                "c.jpg",
                "s.jpg",
                "--size",
                "64",
                "--style-loss=bn:{w},gram:1",
                "-q",
            ]),
        )
        .unwrap();
        assert_eq!(base.positionals, strings(&["c.jpg", "s.jpg"]));
        let row = Item {
            options: vec![("size".into(), "32".into()), (STYLE.into(), "t.jpg".into())],
            label: String::new(),
        };
        let col = Item {
            options: vec![("@w".into(), "0.3".into())],
            label: String::new(),
        };
        assert_eq!(
            cell_args(&base, &row, &col),
            strings(&[
                "c.jpg",
                "t.jpg",
                "--style-loss=bn:0.3,gram:1",
                "-q",
                "--size=32"
            ])
        );
        let only = split_base(&cmd, &strings(&["--style-only", "s.jpg"])).unwrap();
        let row = Item {
            options: vec![(STYLE.into(), "t.jpg".into())],
            label: String::new(),
        };
        assert_eq!(
            cell_args(&only, &row, &Item::default()),
            strings(&["t.jpg", "--style-only"])
        );
        let err = split_base(&cmd, &strings(&["c.jpg", "-o", "x.png"])).unwrap_err();
        assert!(err.to_string().contains("--output is the grid's"));
    }
}
