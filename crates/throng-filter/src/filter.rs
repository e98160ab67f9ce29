//! The built filter: one Aho-Corasick automaton per action over normalised words, and
//! the text check that rejects or masks.

use std::collections::HashSet;
use std::ops::Range;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::config::{Action, FilterConfig, FilterError, MAX_WORD_BYTES};
use crate::normalise::{normalise_into, NormaliseOptions, Segment};

/// What the filter decided about a message body ([`FilterSet::check`], `Body` =
/// `serde_json::Value`) or a plain string ([`FilterSet::check_text`], `Body` = `String`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<Body = serde_json::Value> {
    /// No word of any list occurs: publish the message as it is.
    Clean,
    /// Words of mask lists occurred (and none of a reject list): publish this instead.
    Masked(Body),
    /// A word of a reject list occurred: refuse the message. `list` names the list of the
    /// first such word in document order.
    Rejected { list: String },
}

/// An immutable, ready-to-use filter built from a [`FilterConfig`].
///
/// It is `Send + Sync` and never changes after [`FilterSet::build`]: to update the lists,
/// build a new one and swap it in (for example behind an `Arc`), so a check in progress
/// always sees one consistent set of lists.
#[derive(Debug, Clone)]
pub struct FilterSet {
    config: FilterConfig,
    options: NormaliseOptions,
    reject: Option<Matcher>,
    mask: Option<Matcher>,
    word_count: usize,
}

/// The automaton for one action, and for each of its patterns the list it came from.
#[derive(Debug, Clone)]
struct Matcher {
    automaton: AhoCorasick,
    list_of_pattern: Vec<usize>,
}

/// The result of checking one string, before the list index becomes a name.
#[derive(Debug)]
pub(crate) enum TextOutcome {
    Clean,
    Masked(String),
    Rejected { list_index: usize },
}

impl Default for FilterSet {
    /// A filter with no lists: every message is clean.
    fn default() -> FilterSet {
        FilterSet::build(FilterConfig::default()).expect("the empty filter config is valid")
    }
}

impl FilterSet {
    /// Validates `config` and builds the automata. Cost is linear in the total size of
    /// the words; the filter keeps `config` so the server can show it back
    /// ([`FilterSet::config`]).
    pub fn build(config: FilterConfig) -> Result<FilterSet, FilterError> {
        config.validate_shape()?;
        let options = NormaliseOptions {
            ignore_separators: config.ignore_separators,
        };
        let mut reject = PatternCollector::default();
        let mut mask = PatternCollector::default();
        let mut normalised_word = String::new();
        for (list_index, list) in config.lists.iter().enumerate() {
            let collector = match list.action {
                Action::Reject => &mut reject,
                Action::Mask => &mut mask,
            };
            for (word_index, word) in list.words.iter().enumerate() {
                normalised_word.clear();
                normalise_into(word, options, &mut normalised_word, None);
                if normalised_word.is_empty() {
                    return Err(FilterError::EmptyWord {
                        list: list.name.clone(),
                        word_index,
                    });
                }
                if normalised_word.len() > MAX_WORD_BYTES {
                    return Err(FilterError::NormalisedWordTooLong {
                        list: list.name.clone(),
                        word_index,
                        bytes: normalised_word.len(),
                    });
                }
                collector.add(&normalised_word, list_index);
            }
        }
        let word_count = config.lists.iter().map(|list| list.words.len()).sum();
        Ok(FilterSet {
            options,
            reject: reject.build()?,
            mask: mask.build()?,
            word_count,
            config,
        })
    }

    /// The definition this filter was built from.
    pub fn config(&self) -> &FilterConfig {
        &self.config
    }

    /// Words across all lists, as configured (duplicates included).
    pub fn word_count(&self) -> usize {
        self.word_count
    }

    /// Whether the filter has no words at all, so that every check is `Clean`.
    pub fn is_empty(&self) -> bool {
        self.reject.is_none() && self.mask.is_none()
    }

    /// Heap bytes used by the automata, for metrics and capacity planning.
    pub fn automaton_bytes(&self) -> usize {
        [&self.reject, &self.mask]
            .into_iter()
            .flatten()
            .map(|matcher| matcher.automaton.memory_usage())
            .sum()
    }

    /// Checks a plain string: the same rules as for each string inside a body.
    pub fn check_text(&self, text: &str) -> Verdict<String> {
        match self.check_one_string(text) {
            TextOutcome::Clean => Verdict::Clean,
            TextOutcome::Masked(masked) => Verdict::Masked(masked),
            TextOutcome::Rejected { list_index } => self.rejected(list_index),
        }
    }

    pub(crate) fn rejected<Body>(&self, list_index: usize) -> Verdict<Body> {
        Verdict::Rejected {
            list: self.config.lists[list_index].name.clone(),
        }
    }

    /// Normalises once, looks for reject words, then for mask words; only a string that
    /// will be masked is normalised a second time with its offset map.
    pub(crate) fn check_one_string(&self, text: &str) -> TextOutcome {
        if self.is_empty() || text.is_empty() {
            return TextOutcome::Clean;
        }
        let mut normalised = String::with_capacity(text.len());
        normalise_into(text, self.options, &mut normalised, None);
        if let Some(reject) = &self.reject {
            if let Some(found) = reject.automaton.find(normalised.as_str()) {
                let list_index = reject.list_of_pattern[found.pattern().as_usize()];
                return TextOutcome::Rejected { list_index };
            }
        }
        let Some(mask) = &self.mask else {
            return TextOutcome::Clean;
        };
        if !mask.automaton.is_match(normalised.as_str()) {
            return TextOutcome::Clean;
        }
        let mut segments = Vec::new();
        normalised.clear();
        normalise_into(text, self.options, &mut normalised, Some(&mut segments));
        let matched = mask
            .automaton
            .find_iter(normalised.as_str())
            .map(|found| found.start()..found.end());
        let original_ranges = original_ranges(matched, &segments);
        TextOutcome::Masked(mask_ranges(text, &original_ranges, self.config.mask_char))
    }
}

/// Gathers one action's normalised words, without duplicates (the first list wins).
#[derive(Default)]
struct PatternCollector {
    seen: HashSet<String>,
    patterns: Vec<String>,
    list_of_pattern: Vec<usize>,
}

impl PatternCollector {
    fn add(&mut self, normalised_word: &str, list_index: usize) {
        if self.seen.insert(normalised_word.to_owned()) {
            self.patterns.push(normalised_word.to_owned());
            self.list_of_pattern.push(list_index);
        }
    }

    fn build(self) -> Result<Option<Matcher>, FilterError> {
        if self.patterns.is_empty() {
            return Ok(None);
        }
        // Leftmost-longest: of overlapping words the longest is masked, and a scan never
        // reports a shorter word that a longer one at the same position covers.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&self.patterns)
            .map_err(|error| FilterError::Matcher {
                reason: error.to_string(),
            })?;
        Ok(Some(Matcher {
            automaton,
            list_of_pattern: self.list_of_pattern,
        }))
    }
}

/// Maps matches in the normalised text (increasing, non-overlapping byte ranges) to the
/// original byte ranges to mask: from the start of the segment holding a match's first
/// byte to the end of the segment holding its last. One pass over both lists. Ranges that
/// share a segment (two words inside one ligature) are merged.
pub(crate) fn original_ranges(
    matched: impl Iterator<Item = Range<usize>>,
    segments: &[Segment],
) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut segment_index = 0;
    for normalised_range in matched {
        while segments[segment_index].normalised_end <= normalised_range.start {
            segment_index += 1;
        }
        let first_segment = segments[segment_index];
        // Stay on the last segment: the next match may start inside it.
        while segments[segment_index].normalised_end < normalised_range.end {
            segment_index += 1;
        }
        let range = first_segment.original_start..segments[segment_index].original_end;
        match ranges.last_mut() {
            Some(previous) if previous.end > range.start => previous.end = range.end,
            _ => ranges.push(range),
        }
    }
    ranges
}

/// Copies `text`, replacing every character inside `ranges` (sorted, disjoint, on char
/// boundaries) by `mask_char`. Everything outside the ranges is copied byte for byte.
pub(crate) fn mask_ranges(text: &str, ranges: &[Range<usize>], mask_char: char) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut copied_up_to = 0;
    for range in ranges {
        masked.push_str(&text[copied_up_to..range.start]);
        masked.extend(text[range.clone()].chars().map(|_| mask_char));
        copied_up_to = range.end;
    }
    masked.push_str(&text[copied_up_to..]);
    masked
}
