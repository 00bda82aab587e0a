//! Broken dialplans fail with a precise error: file, line, column, the line with a caret,
//! and a hint at the fix.

use std::path::Path;

use switchyard_ivr::{Diagnostics, Env, Known, Severity, compile};

const GOOD_HEAD: &str = "languages en, zh\nentry main:\n  to any\n  start main_menu\n";

fn errors_of(src: &str, env: &Env<'_>) -> Diagnostics {
    match compile("broken.dialplan", src, env) {
        Ok(_) => panic!("this dialplan should not load:\n{src}"),
        Err(d) => d,
    }
}

/// Asserts that an error sits at `line:col` with the message and hint given, and that it
/// renders as `file:line:col` with the source line and a caret under the column.
fn assert_error(d: &Diagnostics, line: u32, col: u32, message: &str, hint: &str) {
    let found = d
        .errors()
        .find(|e| e.span.line == line && e.span.col == col);
    let Some(e) = found else {
        panic!("no error at {line}:{col}; got:\n{d}");
    };
    assert!(
        e.message.contains(message),
        "message {:?} lacks {message:?}",
        e.message
    );
    let h = e.hint.as_deref().unwrap_or("");
    assert!(h.contains(hint), "hint {h:?} lacks {hint:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("--> broken.dialplan:{line}:{col}")),
        "{text}"
    );
    let caret_line = text
        .lines()
        .find(|l| l.trim_start().starts_with('|') && l.contains('^'))
        .expect("a caret line");
    let bar = caret_line.find('|').expect("a gutter");
    assert_eq!(
        caret_line.find('^').expect("a caret") - bar - 2,
        col as usize - 1,
        "{text}"
    );
}

#[test]
fn undefined_label_names_the_closest_step() {
    let src = format!("{GOOD_HEAD}step main_menu:\n  goto salse\nstep sales:\n  hangup\n");
    let d = errors_of(&src, &Env::bare());
    assert_error(&d, 6, 8, "no step named `salse`", "did you mean `sales`?");
}

#[test]
fn menu_key_without_action() {
    let src = format!(
        "{GOOD_HEAD}step main_menu:\n  menu:\n    greeting welcome\n    1: hangup\n    2:\n    after tries: hangup\n"
    );
    let d = errors_of(&src, &Env::bare());
    assert_error(&d, 9, 5, "key `2` has no action", "say what the key does");
}

#[test]
fn menu_without_after_tries() {
    let src = format!("{GOOD_HEAD}step main_menu:\n  menu:\n    greeting welcome\n    1: hangup\n");
    let d = errors_of(&src, &Env::bare());
    assert_error(
        &d,
        6,
        3,
        "does not say what happens after the last try",
        "after tries:",
    );
}

#[test]
fn invalid_time_specs() {
    let src = format!(
        "{GOOD_HEAD}hours business:\n  timezone Asia/Shanghia\n  mon-fry 09:00-18:00\n  sat 18:00-09:00\nstep main_menu:\n  hangup\n"
    );
    let d = errors_of(&src, &Env::bare());
    assert_error(
        &d,
        6,
        12,
        "unknown time zone `Asia/Shanghia`",
        "IANA zone name",
    );
    assert_error(&d, 7, 3, "`mon-fry` is not a day", "mon-fri");
    assert_error(
        &d,
        8,
        7,
        "`18:00-09:00` ends before it starts",
        "two ranges",
    );
}

#[test]
fn missing_prompt_in_one_language() {
    let src = format!("{GOOD_HEAD}step main_menu:\n  play welcome, menu\n  hangup\n");
    // Every recording exists except the Mandarin `menu`.
    let exists = |p: &Path| !p.ends_with("zh/menu.wav");
    let env = Env {
        base_dir: Path::new("/srv/dialplans"),
        prompt_exists: Some(&exists),
        known: None,
    };
    let d = errors_of(&src, &env);
    assert_eq!(d.errors().count(), 1, "{d}");
    assert_error(
        &d,
        6,
        17,
        "prompt `menu` has no recording",
        "prompts are looked up in",
    );
    assert!(d.0[0].message.contains("zh/menu.wav"), "{}", d.0[0].message);
    assert!(
        !d.0[0].message.contains("en/menu.wav"),
        "{}",
        d.0[0].message
    );
}

#[test]
fn unknown_queue_and_skill_against_the_configuration() {
    let src =
        format!("{GOOD_HEAD}step main_menu:\n  queue salez skills sales>=3, frenh>=2\n  hangup\n");
    let known = Known {
        queues: ["sales", "support"].map(String::from).into(),
        skills: ["sales", "french"].map(String::from).into(),
        trunks: Default::default(),
    };
    let env = Env {
        known: Some(&known),
        ..Env::bare()
    };
    let d = errors_of(&src, &env);
    assert_error(&d, 6, 9, "no queue `salez`", "did you mean `sales`?");
    assert_error(&d, 6, 32, "no skill `frenh`", "did you mean `french`?");
    // Without a configuration the same dialplan loads and lists what it needs.
    let plan = compile("ok.dialplan", &src, &Env::bare()).expect("loads without a config");
    assert_eq!(plan.queues_needed().collect::<Vec<_>>(), ["salez"]);
    assert_eq!(plan.skills_needed().collect::<Vec<_>>(), ["frenh", "sales"]);
}

#[test]
fn single_equals_in_a_condition() {
    let src =
        format!("{GOOD_HEAD}step main_menu:\n  if caller = \"1001\":\n    hangup\n  hangup\n");
    let d = errors_of(&src, &Env::bare());
    assert_error(&d, 6, 13, "comparing needs `==`", "write `==`");
}

#[test]
fn tab_indentation() {
    let src = format!("{GOOD_HEAD}step main_menu:\n\thangup\n");
    let d = errors_of(&src, &Env::bare());
    assert_error(&d, 6, 1, "a tab in the indentation", "spaces only");
}

#[test]
fn step_that_runs_off_its_end() {
    let src = format!("{GOOD_HEAD}step main_menu:\n  play welcome\n");
    let d = errors_of(&src, &Env::bare());
    assert_error(
        &d,
        6,
        3,
        "step `main_menu` can run off its end",
        "goto STEP",
    );
}

#[test]
fn bare_hash_terminator_is_explained() {
    let src = format!("{GOOD_HEAD}step main_menu:\n  collect account terminator #\n  hangup\n");
    let d = errors_of(&src, &Env::bare());
    assert_error(&d, 6, 29, "`terminator` needs a key", "in quotes");
}

#[test]
fn misspelt_statement_and_unset_variable() {
    let src =
        format!("{GOOD_HEAD}step main_menu:\n  plya welcome\n  say digits acount\n  hangup\n");
    let d = errors_of(&src, &Env::bare());
    assert_error(&d, 6, 3, "unknown statement `plya`", "did you mean `play`?");
    assert_error(&d, 7, 14, "variable `acount` is never set", "set it first");
}

#[test]
fn unclosed_string_and_bad_pattern() {
    let src = "entry main:\n  to \"+86[5-1]\"\n  start a\nstep a:\n  play \"welcome\n  hangup\n";
    let d = errors_of(src, &Env::bare());
    assert_error(&d, 2, 11, "goes from low to high", "`[0-4]`");
    assert_error(&d, 5, 8, "is not a prompt name", "without quotes");
}

#[test]
fn unreachable_step_is_only_a_warning() {
    let src = format!("{GOOD_HEAD}step main_menu:\n  hangup\nstep orphan:\n  hangup\n");
    let plan = compile("w.dialplan", &src, &Env::bare()).expect("warnings do not stop loading");
    let w: Vec<_> = plan.warnings().warnings().collect();
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].span.line, w[0].span.col), (7, 6));
    assert_eq!(w[0].severity, Severity::Warning);
    assert!(w[0].message.contains("`orphan` is never reached"));
}

#[test]
fn a_loop_that_never_waits_is_a_warning() {
    let src = format!(
        "{GOOD_HEAD}step main_menu:\n  set n = n + 1\n  goto again\nstep again:\n  if n > 3:\n    goto main_menu\n  goto main_menu\n"
    );
    let plan = compile("w.dialplan", &src, &Env::bare()).expect("warnings do not stop loading");
    let w: Vec<_> = plan.warnings().warnings().collect();
    assert_eq!(w.len(), 1, "{}", plan.warnings());
    assert!(
        w[0].message.contains("main_menu -> again -> main_menu"),
        "{}",
        w[0].message
    );
    // With a prompt in the loop, it waits for the caller each time round: no warning.
    let src = src.replace("  goto again\n", "  play tick\n  goto again\n");
    let plan = compile("w.dialplan", &src, &Env::bare()).expect("loads");
    assert!(plan.warnings().0.is_empty(), "{}", plan.warnings());
}

#[test]
fn unknown_trunk_when_the_configuration_lists_trunks() {
    let src = format!(
        "{GOOD_HEAD}step main_menu:\n  transfer number \"+442079460000\" via carier\n  hangup\n"
    );
    let known = Known {
        trunks: ["carrier".to_string()].into(),
        ..Known::default()
    };
    let env = Env {
        known: Some(&known),
        ..Env::bare()
    };
    let d = errors_of(&src, &env);
    assert_error(&d, 6, 39, "no trunk `carier`", "did you mean `carrier`?");
}
