//! Filtering a JSON message body: every string value at any depth, never keys, numbers
//! or other scalars.
//!
//! The walk uses an explicit stack on the heap instead of recursion, so nesting depth
//! cannot overflow the thread's stack and needs no limit (a depth limit would have to
//! either let deeper strings through unchecked or refuse the message). The work and the
//! stack are bounded by the body's size, which the server bounds before the filter runs.

use serde_json::Value;

use crate::filter::{FilterSet, TextOutcome, Verdict};

impl FilterSet {
    /// Checks every string in `body`, in document order.
    ///
    /// A clean body costs no copy. A masked body is cloned once and the masked strings are
    /// put in place; keys and non-string values are untouched.
    pub fn check(&self, body: &Value) -> Verdict {
        if self.is_empty() {
            return Verdict::Clean;
        }
        // First pass, read-only: decide, and remember each masked string by its position
        // in the walk (the n-th string visited).
        let mut replacements: Vec<(usize, String)> = Vec::new();
        let mut string_position = 0;
        let mut pending: Vec<&Value> = vec![body];
        while let Some(value) = pending.pop() {
            match value {
                Value::String(text) => {
                    match self.check_one_string(text) {
                        TextOutcome::Clean => {}
                        TextOutcome::Masked(masked) => replacements.push((string_position, masked)),
                        TextOutcome::Rejected { list_index } => return self.rejected(list_index),
                    }
                    string_position += 1;
                }
                // Pushed in reverse so they pop in document order.
                Value::Array(items) => pending.extend(items.iter().rev()),
                Value::Object(fields) => pending.extend(fields.values().rev()),
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        if replacements.is_empty() {
            return Verdict::Clean;
        }
        // Second pass over a copy, visiting strings in exactly the same order.
        let mut masked_body = body.clone();
        let mut replacements = replacements.into_iter().peekable();
        let mut string_position = 0;
        let mut pending: Vec<&mut Value> = vec![&mut masked_body];
        while let Some(value) = pending.pop() {
            match value {
                Value::String(text) => {
                    if let Some((_, masked)) =
                        replacements.next_if(|(position, _)| *position == string_position)
                    {
                        *text = masked;
                    }
                    string_position += 1;
                }
                Value::Array(items) => pending.extend(items.iter_mut().rev()),
                Value::Object(fields) => pending.extend(fields.values_mut().rev()),
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        Verdict::Masked(masked_body)
    }
}
