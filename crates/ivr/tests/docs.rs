//! The complete dialplans in docs/dialplan.md compile, so the reference stays true.

use switchyard_ivr::{Env, compile};

#[test]
fn complete_examples_in_the_reference_compile() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/dialplan.md");
    let doc = std::fs::read_to_string(path).expect("docs/dialplan.md exists");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        if line.starts_with("```") {
            match current.take() {
                Some(b) => blocks.push(b),
                None => current = Some(String::new()),
            }
        } else if let Some(b) = current.as_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    let complete: Vec<&String> = blocks
        .iter()
        .filter(|b| b.contains("\nentry ") && b.contains("\nstep "))
        .collect();
    assert!(
        !complete.is_empty(),
        "the reference has no complete example"
    );
    for b in complete {
        if let Err(d) = compile("docs.dialplan", b, &Env::bare()) {
            panic!("an example in docs/dialplan.md does not compile:\n{b}\n{d}");
        }
    }
}
