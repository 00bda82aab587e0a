//! The checks that need the whole file read: each trunk's dialplan compiled against the
//! configuration, and the queues' music found.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::super::*;
use super::Reader;

impl Reader<'_> {
    /// Compiles each trunk's dialplan against the configuration; returns the prompt
    /// directories (one per language) of the dialplans that compiled.
    pub(super) fn compile_dialplans(
        &mut self,
        trunks: &[Trunk],
        queues: &[Queue],
        skills: &[String],
    ) -> Vec<PathBuf> {
        let known = switchyard_ivr::Known {
            queues: queues.iter().map(|q| q.name.clone()).collect(),
            skills: skills.iter().cloned().collect(),
            trunks: trunks.iter().map(|t| t.name.clone()).collect(),
        };
        let mut done: BTreeSet<PathBuf> = BTreeSet::new();
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        for (path, span) in std::mem::take(&mut self.dialplans) {
            if !done.insert(path.clone()) {
                continue;
            }
            match crate::dialplan::load(&path, Some(&known)) {
                Err(e) => self.doc.error(span, format!("{e:#}"), None),
                Ok(Ok(plan)) => {
                    dirs.extend(
                        plan.prompt_files()
                            .filter_map(|f| f.parent().map(Path::to_path_buf)),
                    );
                }
                Ok(Err(diags)) => {
                    for d in diags.errors() {
                        self.doc.errors.push(ConfigError {
                            file: PathBuf::from(&*d.file),
                            line: d.span.line as usize,
                            column: d.span.col as usize,
                            message: d.message.clone(),
                            hint: d.hint.clone(),
                            source_line: d.source_line.clone(),
                            len: d.span.len.max(1) as usize,
                        });
                    }
                    self.doc.error(
                        span,
                        format!(
                            "dialplan `{}` does not compile (its errors follow)",
                            path.display()
                        ),
                        Some(format!(
                            "try `switchyard dialplan check --config {} {}`",
                            self.doc.file.display(),
                            path.display()
                        )),
                    );
                }
            }
        }
        dirs.into_iter().collect()
    }

    /// Checks that each music set explicitly names a prompt or a file.
    pub(super) fn check_music(&mut self, prompt_dirs: &[PathBuf]) {
        for (music, span) in std::mem::take(&mut self.music) {
            if music.contains('/') || music.contains('\\') || music.ends_with(".wav") {
                let path = self.base.join(&music);
                if !path.is_file() {
                    self.doc.error(
                        span,
                        format!("music file `{}` does not exist", path.display()),
                        Some(
                            "relative paths are relative to the configuration file's directory"
                                .into(),
                        ),
                    );
                }
                continue;
            }
            if prompt_dirs.is_empty() {
                continue; // no dialplan compiled: nothing to look in
            }
            if music_candidates(prompt_dirs, &music).any(|p| p.is_file()) {
                continue;
            }
            let looked: Vec<String> = music_candidates(prompt_dirs, &music)
                .map(|p| p.display().to_string())
                .collect();
            self.doc.error(
                span,
                format!("no prompt `{music}` for the music on hold"),
                Some(format!(
                    "looked for {}; or give a WAV file's path",
                    looked.join(", ")
                )),
            );
        }
    }
}

/// Where a music prompt name may be: in each language's directory, and in `music/` beside
/// them.
fn music_candidates<'a>(dirs: &'a [PathBuf], name: &'a str) -> impl Iterator<Item = PathBuf> + 'a {
    let file = format!("{name}.wav");
    let roots: BTreeSet<PathBuf> = dirs
        .iter()
        .filter_map(|d| d.parent().map(Path::to_path_buf))
        .collect();
    let in_lang: Vec<PathBuf> = dirs.iter().map(|d| d.join(&file)).collect();
    let in_music: Vec<PathBuf> = roots
        .into_iter()
        .map(|r| r.join("music").join(&file))
        .collect();
    in_lang.into_iter().chain(in_music)
}
