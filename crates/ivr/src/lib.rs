//! Dialplan language: parser, checker, interpreter and simulator.
