//! The serde-friendly definition of a filter (word lists, their actions, the mask
//! character), its limits, and the errors a bad definition gets.
//!
//! The server reads a [`FilterConfig`] from its TOML config and receives replacements
//! through its HTTP API; [`crate::FilterSet::build`] validates it. Every limit here exists
//! so that an update through the API cannot make the automaton, or the time to build it,
//! unbounded.

use serde::{Deserialize, Serialize};

/// The most words across all lists of one filter. Building 100k words stays cheap
/// enough to redo on every update (see the crate docs for the measured cost).
pub const MAX_TOTAL_WORDS: usize = 100_000;
/// The longest word, in UTF-8 bytes, both as written and after normalisation (NFKC can
/// expand a character up to 18-fold, so the second check keeps the automaton bounded).
pub const MAX_WORD_BYTES: usize = 256;
/// The most lists in one filter.
pub const MAX_LISTS: usize = 64;
/// The longest list name, in UTF-8 bytes.
pub const MAX_LIST_NAME_BYTES: usize = 64;

/// What happens to a message that contains a word of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    /// The whole message is refused; the caller answers the sender with an error code.
    Reject,
    /// Every occurrence is replaced by the mask character, one per original character,
    /// and the message goes on.
    Mask,
}

/// One named list of words sharing an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WordList {
    /// A name unique within the filter; a rejected message reports it
    /// ([`crate::Verdict::Rejected`]).
    pub name: String,
    pub action: Action,
    /// The words, matched as substrings after normalisation (see the crate docs).
    #[serde(default)]
    pub words: Vec<String>,
}

/// The definition of a whole filter, as the server's config and API carry it.
///
/// In TOML:
///
/// ```toml
/// mask_char = "*"
/// ignore_separators = false
///
/// [[lists]]
/// name = "severe"
/// action = "reject"
/// words = ["badword", "敏感词"]
///
/// [[lists]]
/// name = "mild"
/// action = "mask"
/// words = ["darn"]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FilterConfig {
    /// The lists, in order; a word in several lists of the same action is reported as
    /// belonging to the first.
    pub lists: Vec<WordList>,
    /// What replaces each masked character. Default `*`.
    pub mask_char: char,
    /// Drop whitespace and punctuation before matching, so that `b.a.d` and `b a d` match
    /// `bad`. Off by default: it also lets words match across word gaps ("gra bad" →
    /// "grabad"), which raises false positives. See the crate docs for the exact set.
    pub ignore_separators: bool,
}

impl Default for FilterConfig {
    fn default() -> FilterConfig {
        FilterConfig {
            lists: Vec::new(),
            mask_char: '*',
            ignore_separators: false,
        }
    }
}

/// Why a [`FilterConfig`] was refused. The messages name the list and the word's
/// position in it but never repeat the word, so they are safe to return to an API caller
/// and to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("the filter has {count} lists, at most {MAX_LISTS} are allowed")]
    TooManyLists { count: usize },
    #[error("the lists hold {count} words in all, at most {MAX_TOTAL_WORDS} are allowed")]
    TooManyWords { count: usize },
    #[error("list {list_index} has an empty name")]
    EmptyListName { list_index: usize },
    #[error(
        "list {list_index} has a name of {bytes} bytes, at most {MAX_LIST_NAME_BYTES} are allowed"
    )]
    ListNameTooLong { list_index: usize, bytes: usize },
    #[error("list {list:?} is defined twice")]
    DuplicateListName { list: String },
    #[error(
        "list {list:?}, word {word_index}: {bytes} bytes, at most {MAX_WORD_BYTES} are allowed"
    )]
    WordTooLong {
        list: String,
        word_index: usize,
        bytes: usize,
    },
    #[error("list {list:?}, word {word_index}: {bytes} bytes after normalisation, at most {MAX_WORD_BYTES} are allowed")]
    NormalisedWordTooLong {
        list: String,
        word_index: usize,
        bytes: usize,
    },
    #[error("list {list:?}, word {word_index}: nothing is left of it after normalisation")]
    EmptyWord { list: String, word_index: usize },
    #[error("the mask character {mask_char:?} is a control character")]
    InvalidMaskChar { mask_char: char },
    /// The automaton could not be built (in practice: it would exceed the matcher's own
    /// size limits). The limits above are meant to make this unreachable.
    #[error("the word matcher could not be built: {reason}")]
    Matcher { reason: String },
}

impl FilterConfig {
    /// Checks everything that does not need normalisation: counts, names, sizes, the mask
    /// character. Word emptiness after normalisation is checked while building.
    pub(crate) fn validate_shape(&self) -> Result<(), FilterError> {
        if self.mask_char.is_control() {
            return Err(FilterError::InvalidMaskChar {
                mask_char: self.mask_char,
            });
        }
        if self.lists.len() > MAX_LISTS {
            return Err(FilterError::TooManyLists {
                count: self.lists.len(),
            });
        }
        // Count before looking at any word so an oversized update is refused cheaply.
        let total_words: usize = self.lists.iter().map(|list| list.words.len()).sum();
        if total_words > MAX_TOTAL_WORDS {
            return Err(FilterError::TooManyWords { count: total_words });
        }
        for (list_index, list) in self.lists.iter().enumerate() {
            if list.name.is_empty() {
                return Err(FilterError::EmptyListName { list_index });
            }
            if list.name.len() > MAX_LIST_NAME_BYTES {
                return Err(FilterError::ListNameTooLong {
                    list_index,
                    bytes: list.name.len(),
                });
            }
            // Lists are few (at most MAX_LISTS), so a quadratic scan is cheaper than a set.
            if self.lists[..list_index]
                .iter()
                .any(|earlier| earlier.name == list.name)
            {
                return Err(FilterError::DuplicateListName {
                    list: list.name.clone(),
                });
            }
            if let Some((word_index, word)) = list
                .words
                .iter()
                .enumerate()
                .find(|(_, word)| word.len() > MAX_WORD_BYTES)
            {
                return Err(FilterError::WordTooLong {
                    list: list.name.clone(),
                    word_index,
                    bytes: word.len(),
                });
            }
        }
        Ok(())
    }
}
